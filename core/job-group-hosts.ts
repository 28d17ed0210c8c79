// A job group's hostnames: every member task's node of rank r answers to `<task>-<r>.<group>`
// (and `<task>-<r>`), from every other member's nodes. The table is written on each node as a
// hosts(5) file that nss_wrapper resolves for the job's processes (LD_PRELOAD + NSS_WRAPPER_HOSTS),
// so no root, no /etc/hosts and no DNS are involved, and two groups on one machine never clash.

export interface GroupMemberNodes {
  task: string;
  nodeIps: string[];
}

/** The DNS-safe form of a name SkyPilot allows in a group (`[A-Za-z0-9_-]`): `_` is not a hostname character. */
export function hostLabel(name: string): string {
  return name.toLowerCase().replace(/_/g, '-');
}

export function groupHostnames(group: string, task: string, rank: number): string[] {
  const short = `${hostLabel(task)}-${rank}`;
  return [`${short}.${hostLabel(group)}`, short];
}

/** hosts(5) text: one line per node of every member (no comments: nss_wrapper refuses a file with any). */
export function groupHostsFile(group: string, members: GroupMemberNodes[]): string {
  const lines: string[] = [];
  for (const m of members) {
    m.nodeIps.forEach((ip, rank) => lines.push(`${ip} ${groupHostnames(group, m.task, rank).join(' ')}`));
  }
  return `${lines.join('\n')}\n`;
}

/** The environment that makes a job resolve the group's names: the file, and nss_wrapper where the node has it. */
export function groupHostsEnv(group: string, hostsPath: string, nssWrapper: string | undefined, userPreload: string | undefined): Record<string, string> {
  const env: Record<string, string> = {
    PETREL_JOBGROUP_NAME: group,
    SKYPILOT_JOBGROUP_NAME: group,
    PETREL_JOBGROUP_HOSTS: hostsPath,
  };
  if (nssWrapper) {
    env.NSS_WRAPPER_HOSTS = hostsPath;
    env.LD_PRELOAD = userPreload ? `${nssWrapper}:${userPreload}` : nssWrapper;
  }
  return env;
}
