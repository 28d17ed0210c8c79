// Whether an accelerator name as a task writes it (A100-80GB) names what an infra calls its
// devices (NVIDIA-A100-SXM4-80GB, nvidia-tesla-a100, a100): every part of the name is a part of
// the other. Shared by the Kubernetes provider's node matching and `petrel show-gpus`.

const parts = (s: string) => s.toLowerCase().split(/[^a-z0-9]+/).filter(Boolean);

export function acceleratorMatches(requested: string, infraName: string): boolean {
  const have = new Set(parts(infraName));
  const want = parts(requested);
  return want.length > 0 && want.every((p) => have.has(p));
}
