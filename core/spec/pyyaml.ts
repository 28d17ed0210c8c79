// Plain scalars read the way PyYAML's SafeLoader (what SkyPilot uses) reads them: YAML 1.1
// booleans (yes/no/on/off, but not y/n), ints with underscores, 0-prefixed octal, 0b/0x and
// sexagesimal (1:30 is 90), and floats that need a dot (1e3 stays text). Dates stay text:
// PyYAML would make them date objects, which only makes SkyPilot reject them later.
import { Scalar, type ScalarTag, type Tags } from 'yaml';

const TRUE = /^(?:yes|Yes|YES|true|True|TRUE|on|On|ON)$/;
const FALSE = /^(?:no|No|NO|false|False|FALSE|off|Off|OFF)$/;

const INT = /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/;
const FLOAT =
  /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;

function sexagesimal(parts: string[], parse: (s: string) => number): number {
  return parts.reduce((acc, p) => acc * 60 + parse(p), 0);
}

/** PyYAML's construct_yaml_int. */
export function pyInt(source: string): number {
  let s = source.replace(/_/g, '');
  const sign = s.startsWith('-') ? -1 : 1;
  if (s.startsWith('-') || s.startsWith('+')) s = s.slice(1);
  if (s === '0') return 0;
  if (s.startsWith('0b')) return sign * parseInt(s.slice(2), 2);
  if (s.startsWith('0x')) return sign * parseInt(s.slice(2), 16);
  if (s.startsWith('0')) return sign * parseInt(s, 8);
  if (s.includes(':')) return sign * sexagesimal(s.split(':'), (p) => parseInt(p, 10));
  return sign * Number(s);
}

/** PyYAML's construct_yaml_float. */
export function pyFloat(source: string): number {
  let s = source.replace(/_/g, '').toLowerCase();
  const sign = s.startsWith('-') ? -1 : 1;
  if (s.startsWith('-') || s.startsWith('+')) s = s.slice(1);
  if (s === '.inf') return sign * Infinity;
  if (s === '.nan') return NaN;
  if (s.includes(':')) return sign * sexagesimal(s.split(':'), Number);
  return sign * Number(s);
}

const pyTags: ScalarTag[] = [
  { tag: 'tag:yaml.org,2002:bool', default: true, identify: (v) => typeof v === 'boolean', test: TRUE, resolve: () => new Scalar(true) },
  { tag: 'tag:yaml.org,2002:bool', default: true, identify: (v) => typeof v === 'boolean', test: FALSE, resolve: () => new Scalar(false) },
  { tag: 'tag:yaml.org,2002:int', default: true, identify: (v) => Number.isInteger(v), test: INT, resolve: (s) => new Scalar(pyInt(s)) },
  { tag: 'tag:yaml.org,2002:float', default: true, identify: (v) => typeof v === 'number', test: FLOAT, resolve: (s) => new Scalar(pyFloat(s)) },
];

const REPLACED = new Set(['tag:yaml.org,2002:bool', 'tag:yaml.org,2002:int', 'tag:yaml.org,2002:float', 'tag:yaml.org,2002:timestamp']);

/** `customTags` for the yaml-1.1 schema: PyYAML's implicit scalars instead of yaml's own. */
export function pyyamlTags(tags: Tags): Tags {
  return [...pyTags, ...tags.filter((t) => typeof t === 'string' || !REPLACED.has(t.tag))];
}

/** Whether a plain scalar's source text is a float to PyYAML (so `num_nodes: 2.0` is not an int). */
export function isPyFloatSource(source: string): boolean {
  return FLOAT.test(source);
}
