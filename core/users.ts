// Who a cluster or managed job belongs to (search attribute PetrelUser, recorded at launch
// from PETREL_USER or the OS user), and what another user may do with it.
//
// A record made before users existed has no PetrelUser: it counts as everyone's, so it is
// listed for every user and anyone may cancel it or tear it down without --all-users.

/** The owner to name when `me` acts on something recorded as `owner`'s; undefined if it is mine or everyone's. */
export function otherOwner(owner: string | null | undefined, me: string): string | undefined {
  return owner && owner !== me ? owner : undefined;
}

/**
 * The refusal for acting on other users' clusters or jobs: names each owner and the fix, e.g.
 * "cluster 'x' belongs to alice; add --all-users (-u) to tear it down anyway".
 */
export function notYoursMessage(things: Array<{ what: string; owner: string }>, act: (it: 'it' | 'them') => string): string {
  const whose = things.map((t, i) => (i === 0 ? `${t.what} belongs to ${t.owner}` : `${t.what} to ${t.owner}`)).join(', ');
  return `${whose}; add --all-users (-u) to ${act(things.length > 1 ? 'them' : 'it')} anyway`;
}

/** "alice's" — for prompts and notes about something of another user's. */
export function possessive(owner: string): string {
  return `${owner}'s`;
}
