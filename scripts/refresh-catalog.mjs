#!/usr/bin/env node
// Refreshes core/catalog/<cloud>-data.ts from the clouds' pricing APIs. Never run by tests.
// The transforms live in core/catalog/refresh*.ts (unit-tested); this file only fetches and writes.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createInterface } from 'node:readline';

const repo = path.resolve(import.meta.dirname, '..');
const HELP = `Usage: node scripts/refresh-catalog.mjs [--cloud aws|gcp]... [--dry-run] [--help]

Rewrites core/catalog/aws-data.ts and core/catalog/gcp-data.ts with current prices and a new
date (fetchedAt). Only the instance types and regions already in a catalog are refreshed; add a
row by hand (same shape) to have it priced. Run \`npm run build\` first (it imports dist/core).

aws  needs AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or
     ~/.aws/credentials). On-demand prices: the public bulk price list of each region (CSV,
     streamed); spot prices: EC2 DescribeSpotPriceHistory (latest per zone); zones: EC2
     DescribeInstanceTypeOfferings.
gcp  needs PETREL_GCP_PRICING_API_KEY (an API key allowed to call the Cloud Billing Catalog API)
     or GOOGLE_APPLICATION_CREDENTIALS (a service-account key file). Prices: the Compute Engine
     SKUs (vCPU + memory + GPU per row). Zones are kept as they are.

A cloud without credentials is skipped with "<cloud>: no credentials: nothing refreshed" and its
file is left untouched. --dry-run prints what would change without writing.
Exit status: 0 when every cloud asked for was refreshed or skipped, 1 on an error.`;

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(HELP);
  process.exit(0);
}
const clouds = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--cloud') clouds.push(args[++i]);
  else if (args[i] !== '--dry-run') {
    console.error(`unknown argument ${args[i]}\n\n${HELP}`);
    process.exit(1);
  }
}
const dryRun = args.includes('--dry-run');
const wanted = clouds.length ? clouds : ['aws', 'gcp'];
for (const c of wanted) {
  if (c !== 'aws' && c !== 'gcp') {
    console.error(`--cloud ${c}: only aws and gcp have catalogs`);
    process.exit(1);
  }
}

function awsHasCredentials() {
  if (process.env.AWS_ACCESS_KEY_ID && process.env.AWS_SECRET_ACCESS_KEY) return true;
  if (process.env.AWS_PROFILE || process.env.AWS_WEB_IDENTITY_TOKEN_FILE) return true;
  return existsSync(process.env.AWS_SHARED_CREDENTIALS_FILE ?? path.join(os.homedir(), '.aws', 'credentials'));
}

function gcpCredentials() {
  if (process.env.PETREL_GCP_PRICING_API_KEY) return { apiKey: process.env.PETREL_GCP_PRICING_API_KEY };
  const file = process.env.GOOGLE_APPLICATION_CREDENTIALS;
  if (file && existsSync(file)) return { keyFile: file };
  return undefined;
}

async function load() {
  const dist = path.join(repo, 'dist', 'core', 'catalog');
  if (!existsSync(path.join(dist, 'refresh.js'))) throw new Error('dist/core/catalog is missing: run `npm run build` first');
  const [render, refresh, aws, gcp] = await Promise.all(
    ['render.js', 'refresh.js', 'refresh-aws.js', 'refresh-gcp.js'].map((f) => import(path.join(dist, f))),
  );
  return { ...render, ...refresh, ...aws, ...gcp };
}

const dataFile = (cloud) => path.join(repo, 'core', 'catalog', `${cloud}-data.ts`);
const today = () => new Date().toISOString().slice(0, 10);

async function refreshAws(lib, catalog, report) {
  // Never reach for instance metadata: credentials come from the environment or profile only.
  process.env.AWS_EC2_METADATA_DISABLED ??= 'true';
  const { EC2Client, paginateDescribeSpotPriceHistory, paginateDescribeInstanceTypeOfferings } = await import('@aws-sdk/client-ec2');
  const types = [...new Set(catalog.rows.map((r) => r.instanceType))];
  let next = catalog;
  for (const { name: region } of catalog.regions) {
    console.log(`aws: ${region}: price list…`);
    const reader = lib.awsPriceListReader(new Set(types));
    const url = `https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonEC2/current/${region}/index.csv`;
    const res = await fetch(url);
    if (!res.ok || !res.body) throw new Error(`${url}: HTTP ${res.status}`);
    const lines = createInterface({ input: Readable.fromWeb(res.body), crlfDelay: Infinity });
    for await (const line of lines) reader.push(line);
    const ec2 = new EC2Client({ region });
    console.log(`aws: ${region}: spot prices and zones…`);
    const spotItems = [];
    for await (const page of paginateDescribeSpotPriceHistory(
      { client: ec2 },
      { InstanceTypes: types, ProductDescriptions: ['Linux/UNIX'], StartTime: new Date() },
    )) {
      spotItems.push(...(page.SpotPriceHistory ?? []));
    }
    const offerings = [];
    for await (const page of paginateDescribeInstanceTypeOfferings(
      { client: ec2 },
      { LocationType: 'availability-zone', Filters: [{ Name: 'instance-type', Values: types }] },
    )) {
      offerings.push(...(page.InstanceTypeOfferings ?? []));
    }
    next = lib.applyAwsRegion(next, region, { onDemand: reader.prices(), spot: lib.latestSpotPrices(spotItems), zones: lib.zonesByType(offerings) }, report);
  }
  return lib.stamped(
    next,
    today(),
    'AWS Price List bulk CSV (on-demand, Linux, shared tenancy), EC2 DescribeSpotPriceHistory (latest spot price per zone) and DescribeInstanceTypeOfferings (zones), fetched by scripts/refresh-catalog.mjs.',
  );
}

async function refreshGcp(lib, catalog, creds, report) {
  let headers = {};
  let keyParam = '';
  if (creds.apiKey) keyParam = `&key=${encodeURIComponent(creds.apiKey)}`;
  else {
    const { GoogleAuth } = await import('google-auth-library');
    const auth = new GoogleAuth({ keyFile: creds.keyFile, scopes: ['https://www.googleapis.com/auth/cloud-billing.readonly'] });
    const client = await auth.getClient();
    headers = await client.getRequestHeaders();
    if (typeof headers.entries === 'function') headers = Object.fromEntries(headers.entries());
  }
  const skus = [];
  let pageToken = '';
  do {
    const url = `https://cloudbilling.googleapis.com/v1/services/${lib.COMPUTE_ENGINE_SERVICE}/skus?currencyCode=USD&pageSize=5000${pageToken ? `&pageToken=${pageToken}` : ''}${keyParam}`;
    const res = await fetch(url, { headers });
    if (!res.ok) throw new Error(`Cloud Billing Catalog API: HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`);
    const page = await res.json();
    skus.push(...(page.skus ?? []));
    pageToken = page.nextPageToken ?? '';
    console.log(`gcp: ${skus.length} SKUs…`);
  } while (pageToken);
  const next = lib.applyGcpSkus(catalog, skus, report);
  return lib.stamped(
    next,
    today(),
    'Cloud Billing Catalog API, Compute Engine SKUs (vCPU + memory + GPU per machine type, on-demand and Spot); zones as before. Fetched by scripts/refresh-catalog.mjs.',
  );
}

let failed = false;
let lib;
for (const cloud of wanted) {
  const gcpCreds = cloud === 'gcp' ? gcpCredentials() : undefined;
  if (cloud === 'aws' ? !awsHasCredentials() : !gcpCreds) {
    console.log(`${cloud}: no credentials: nothing refreshed (${cloud}-data.ts keeps its date)`);
    continue;
  }
  try {
    lib ??= await load();
    const file = dataFile(cloud);
    const old = lib.parseCatalogModule(readFileSync(file, 'utf8'));
    const report = { catalog: old, updated: 0, notes: [] };
    const fresh = cloud === 'aws' ? await refreshAws(lib, old, report) : await refreshGcp(lib, old, gcpCreds, report);
    for (const n of report.notes) console.log(`${cloud}: ${n}`);
    console.log(`${cloud}: ${report.updated} offers priced; data of ${fresh.fetchedAt} (was ${old.fetchedAt})`);
    if (!dryRun) writeFileSync(file, lib.renderCatalogModule(fresh));
  } catch (err) {
    failed = true;
    console.error(`${cloud}: refresh failed: ${err.message}`);
  }
}
process.exit(failed ? 1 : 0);
