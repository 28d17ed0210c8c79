// The `aws:` section of config.yaml: SkyPilot's keys Petrel implements, Petrel's own, and every
// problem at its file, line and column.
import { describe, expect, it } from 'vitest';
import { formatSpecError } from '../../core/spec/errors.js';
import { parseAwsSection } from '../../providers/aws/config.js';
import { openedRanges, securityGroupNameFor } from '../../providers/aws/bootstrap.js';

const FILE = '/home/u/.petrel/config.yaml';
const problems = (yaml: string) => parseAwsSection(yaml, FILE).problems.map(formatSpecError);

describe('aws config section', () => {
  it('defaults without a section', () => {
    expect(parseAwsSection('', FILE)).toEqual({
      config: { file: FILE, access: { sshUser: 'ubuntu', useInternalIps: false }, labels: {}, diskEncrypted: false, metadataEndpoint: 'http://169.254.169.254' },
      problems: [],
    });
  });

  it('reads every key it implements', () => {
    const r = parseAwsSection(
      [
        'aws:',
        '  vpc_name: ml-vpc',
        '  use_internal_ips: true',
        "  ssh_proxy_command: {us-east-1: 'ssh -W %h:%p bastion'}",
        '  security_group_name: team-sg',
        '  labels: {team: ml, cost-center: 42}',
        '  disk_encrypted: true',
        '  instance_metadata_endpoint: http://127.0.0.1:8111/{instance_id}/',
        '  ssh_user: ec2-user',
        '',
      ].join('\n'),
      FILE,
    );
    expect(r.problems).toEqual([]);
    expect(r.config).toEqual({
      file: FILE,
      access: { sshUser: 'ec2-user', useInternalIps: true, sshProxyCommand: { 'us-east-1': 'ssh -W %h:%p bastion' } },
      vpcName: 'ml-vpc',
      securityGroupName: 'team-sg',
      labels: { team: 'ml', 'cost-center': '42' },
      diskEncrypted: true,
      metadataEndpoint: 'http://127.0.0.1:8111/{instance_id}',
    });
  });

  it('reports each problem with file, line, column and field', () => {
    expect(
      problems(
        [
          'aws:',
          '  security_group_name: {my-cluster-*: sg1}',
          '  instance_metadata_endpoint: 169.254.169.254',
          '  labels: [a, b]',
          '  remote_identity: LOCAL_CREDENTIALS',
          '  vpc_nme: x',
          '',
        ].join('\n'),
      ),
    ).toEqual([
      `${FILE}:2:24: aws.security_group_name: expected a name, got {"my-cluster-*":"sg1"} (the per-cluster mapping form is not supported)`,
      `${FILE}:3:31: aws.instance_metadata_endpoint: expected an http(s) URL (default http://169.254.169.254; may contain {instance_id}), got '169.254.169.254'`,
      `${FILE}:4:11: aws.labels: expected a mapping of tag names to values, got ["a","b"]`,
      `${FILE}:5:3: aws.remote_identity: SkyPilot's aws.remote_identity is not supported by Petrel: Petrel does not attach IAM instance profiles to nodes; remove it`,
      `${FILE}:6:3: aws.vpc_nme: unknown field; did you mean 'vpc_name'? (fields: ssh_proxy_command, use_internal_ips, ssh_user, vpc_name, security_group_name, labels, disk_encrypted, instance_metadata_endpoint)`,
    ]);
    expect(problems('aws: [1]\n')).toEqual([`${FILE}:1:6: aws: expected a mapping of AWS settings, got [1]`]);
  });

  it('security groups: one per set of opened ports, 22 always', () => {
    expect(openedRanges([])).toEqual([[22, 22]]);
    expect(openedRanges(['8080', '8081', '21-23', '10022-10040'])).toEqual([[21, 23], [8080, 8081], [10022, 10040]]);
    expect(securityGroupNameFor(openedRanges([]))).toBe('petrel-ssh');
    expect(securityGroupNameFor(openedRanges(['8081', '8080']))).toBe(securityGroupNameFor(openedRanges(['8080-8081'])));
    expect(securityGroupNameFor(openedRanges(['8080']))).not.toBe(securityGroupNameFor(openedRanges(['8081'])));
    expect(() => openedRanges(['http'])).toThrow("ports: 'http' is not a port or a range of ports (e.g. 8080 or 10022-10040)");
  });
});
