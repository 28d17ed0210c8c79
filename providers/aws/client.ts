// EC2 clients, one per region, configured the SDK's usual way (environment, shared config and
// credentials files, AWS_ENDPOINT_URL_EC2), so tests and private endpoints need no code here.
// RunInstances gets a client without SDK retries: a retry the SDK makes is invisible to us and,
// where ClientToken is not honoured, could create a second instance; Temporal retries the whole
// provision instead, which looks up by tag first.
import { EC2Client } from '@aws-sdk/client-ec2';

export interface RegionClients {
  ec2: EC2Client;
  /** maxAttempts 1: for RunInstances */
  once: EC2Client;
}

export class AwsClients {
  private readonly byRegion = new Map<string, RegionClients>();

  get(region: string): RegionClients {
    let c = this.byRegion.get(region);
    if (!c) {
      c = { ec2: new EC2Client({ region }), once: new EC2Client({ region, maxAttempts: 1 }) };
      this.byRegion.set(region, c);
    }
    return c;
  }

  destroy(): void {
    for (const c of this.byRegion.values()) {
      c.ec2.destroy();
      c.once.destroy();
    }
    this.byRegion.clear();
  }
}
