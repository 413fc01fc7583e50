/**
 * What each role did while the sandbox ran: every action and resource it was allowed, and every
 * request it was refused. The least-privilege report compares this with what the role's policies
 * grant. Kept in memory (a run's worth); `reset` starts over.
 */

export interface Denial {
  readonly action: string;
  readonly resource: string;
  readonly reason: string;
  readonly atMs: number;
  /** False when enforcement was off: the request went through, but AWS would have refused it. */
  readonly enforced: boolean;
}

export interface RoleUsage {
  readonly roleArn: string;
  /** Action (as IAM names it) → the resources it was allowed on, sorted. */
  readonly used: Readonly<Record<string, readonly string[]>>;
  readonly denials: readonly Denial[];
}

/** At most this many denials are kept per role (a loop of refusals must not grow without bound). */
const MAX_DENIALS = 200;

export class Usage {
  private readonly roles = new Map<string, { used: Map<string, Set<string>>; denials: Denial[] }>();
  /** `action: resource-type` the sandbox authorized without checking a required resource type. */
  private readonly unchecked = new Set<string>();

  /** Records that `action` was authorized without its required resource `types` (a sandbox gap, not a caller's). */
  gap(action: string, types: readonly string[]): void {
    for (const type of types) this.unchecked.add(`${action}: ${type}`);
  }

  /** Every gap recorded, sorted: each an action and a required resource type its mapper did not check. */
  gaps(): string[] {
    return [...this.unchecked].sort();
  }

  private entry(roleArn: string) {
    let entry = this.roles.get(roleArn);
    if (!entry) {
      entry = { used: new Map(), denials: [] };
      this.roles.set(roleArn, entry);
    }
    return entry;
  }

  used(roleArn: string, action: string, resource: string): void {
    const { used } = this.entry(roleArn);
    let resources = used.get(action);
    if (!resources) {
      resources = new Set();
      used.set(action, resources);
    }
    resources.add(resource);
  }

  denied(roleArn: string, denial: Denial): void {
    const { denials } = this.entry(roleArn);
    if (denials.length < MAX_DENIALS) denials.push(denial);
  }

  snapshot(): RoleUsage[] {
    return [...this.roles.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([roleArn, { used, denials }]) => ({
        roleArn,
        used: Object.fromEntries(
          [...used.entries()]
            .sort(([a], [b]) => (a < b ? -1 : 1))
            .map(([action, resources]) => [action, [...resources].sort()]),
        ),
        denials: [...denials],
      }));
  }

  get denialCount(): number {
    let count = 0;
    for (const { denials } of this.roles.values()) count += denials.length;
    return count;
  }

  reset(): void {
    this.roles.clear();
    this.unchecked.clear();
  }
}
