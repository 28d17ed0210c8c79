// Petrel's custom search attributes: one list shared by the embedded server (registered at
// start-dev), the worker (registered on a remote cluster), docker-compose and the workflows.
// Values here are indexed and unencrypted: never put secrets or env values in them.

export type SearchAttributeKind = 'Keyword' | 'Text' | 'Int' | 'Double' | 'Bool' | 'Datetime' | 'KeywordList';

export const PETREL_SEARCH_ATTRIBUTES = {
  PetrelKind: 'Keyword', // "cluster" | "job" (a managed job or a pipeline) | "job-task" (a pipeline's step) | "op" (worker operations and log sessions, workflows/worker-operation.ts)
  PetrelCluster: 'Keyword',
  PetrelJobId: 'Keyword',
  PetrelJobName: 'Keyword',
  PetrelStatus: 'Keyword',
  PetrelInfra: 'Keyword',
  PetrelRegion: 'Keyword',
  PetrelAccelerator: 'Keyword',
  PetrelUseSpot: 'Bool',
  PetrelRecoveries: 'Int',
  PetrelUser: 'Keyword',
} as const satisfies Record<string, SearchAttributeKind>;

export type PetrelSearchAttributeName = keyof typeof PETREL_SEARCH_ATTRIBUTES;
