import * as z from 'zod';
import { idsOfCaller, isCallerOneOf } from './caller-arn.js';
import { DEFAULT_LIMITS, DEFAULT_VIOLATION_ALERT_LIMIT, limitsOf, MAX_AUTO_QUARANTINE_WINDOW_MINUTES, MAX_VIOLATION_ALERT_WINDOW_MINUTES, type AgentLimits, type AutoQuarantineRule, type ViolationAlertLimit } from './flood-control.js';

/**
 * The approver directory: who the reviewers are, which groups they are in, where each group is
 * asked, and who owns each agent. Deployed with the stack as a JSON file (config/directory.json).
 */
const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const id = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be 1-64 characters of a-z, 0-9, ".", "_" or "-"');

const IAM_PRINCIPAL_ARN = /^arn:aws(-[a-z]+)*:iam::\d{12}:(role|user)\/([\w+=,.@-]+\/)*[\w+=,.@-]{1,64}$/;
/** An IAM Identity Center session: its role is Identity Center's (`AWSReservedSSO_<permission set>_<id>`), its name the user's. */
const SSO_SESSION_ARN = /^arn:aws(-[a-z]+)*:sts::\d{12}:assumed-role\/AWSReservedSSO_[\w+=,.@-]{1,50}\/[\w+=,.@-]{2,64}$/;
const positiveInt = (max: number) => z.number().int().min(1).max(max);

/** An agent's own flood-control limits (issue 16); each one absent takes the stack's. */
const AgentLimitsSchema = z.strictObject({
  /** Reviews of one agent open at once; the next request that needs a review is denied until one closes. */
  maxOpenReviews: positiveInt(1000).optional(),
  /** Requests needing a review per agent per hour: a token bucket of this size, refilled evenly over the hour. */
  maxApprovalRequestsPerHour: positiveInt(100_000).optional(),
});

/** Flood control for every agent (issue 16). */
const FloodControlSchema = z.strictObject({
  maxOpenReviews: positiveInt(1000).default(DEFAULT_LIMITS.maxOpenReviews),
  maxApprovalRequestsPerHour: positiveInt(100_000).default(DEFAULT_LIMITS.maxApprovalRequestsPerHour),
  /** The group that may quarantine any agent and lift it (besides the escalation group of a request under review). @default the directory's securityGroup */
  quarantineGroup: z.string().min(1).optional(),
  /**
   * Automatic quarantine: an agent whose requests reviewers rejected `rejections` times within
   * `windowMinutes` is quarantined by Countersign (policy denials and flood-control denials do not count).
   * @default - off
   */
  autoQuarantine: z.strictObject({
    rejections: positiveInt(100),
    /** At most a week. */
    windowMinutes: positiveInt(MAX_AUTO_QUARANTINE_WINDOW_MINUTES),
  }).optional(),
  /**
   * Execution-violation alerts one agent's reports may post: `max` per `windowMinutes` (at most a day), then
   * one line holding the rest until the window ends. Every violation is recorded either way.
   * @default 5 per 10 minutes
   */
  violationAlerts: z.strictObject({
    max: positiveInt(1000),
    windowMinutes: positiveInt(MAX_VIOLATION_ALERT_WINDOW_MINUTES),
  }).optional(),
});
export type FloodControlConfig = z.infer<typeof FloodControlSchema>;

export const MemberSchema = z.strictObject({
  id,
  slackUserId: z.string().regex(/^[UW][A-Z0-9]{2,20}$/, 'must be a Slack user id such as "U0ALICE"'),
  email: z.email(),
  /** IAM principal ARNs that act as this reviewer on the votes API (AWS_IAM auth). */
  // Role or user ARNs: a session ARN's name is whatever its assumer chose, so it proves nobody. Except an IAM
  // Identity Center session (`AWSReservedSSO_*` roles), whose name Identity Center sets to the signed-in user.
  iamPrincipalArns: z.array(z.string().refine((arn) => IAM_PRINCIPAL_ARN.test(arn) || SSO_SESSION_ARN.test(arn), 'must be an IAM role or user ARN such as "arn:aws:iam::123456789012:role/carol-ci", or an IAM Identity Center session (assumed-role/AWSReservedSSO_…/<user>); not another session ARN: anyone who can assume the role names the session')).default([]),
  /** The member's Entra ID (Azure AD) object id: who they are in Microsoft Teams (`from.aadObjectId`). */
  teamsAadObjectId: z.string().regex(GUID, 'must be an Entra ID object id (a GUID such as "00000000-0000-4000-8000-00000000a11c")').transform((v) => v.toLowerCase()).optional(),
});

/** A Slack channel: its id and name. */
const SlackChannelSchema = z.strictObject({ id: z.string().regex(/^[CG][A-Z0-9]+$/, 'must be a Slack channel id such as "C0SECURITY"'), name: z.string().min(1) });

/** A Teams channel: its conversation id (`19:…@thread.tacv2`), its name, and the team it is in. */
const TeamsChannelSchema = z.strictObject({
  id: z.string().regex(/^19:[A-Za-z0-9_-]+@thread\.(tacv2|skype)$/, 'must be a Teams channel id such as "19:security@thread.tacv2"'),
  name: z.string().min(1),
  team: z.string().min(1),
});

export const DirectorySchema = z.strictObject({
  slack: z.strictObject({ teamId: z.string().regex(/^T[A-Z0-9]+$/), appId: z.string().regex(/^A[A-Z0-9]+$/) }),
  members: z.array(MemberSchema).min(1),
  /** A group is asked in its Slack channel, its Teams channel, or both (at least one). */
  groups: z.record(id, z.strictObject({
    members: z.array(id).min(1),
    channel: SlackChannelSchema.optional(),
    teamsChannel: TeamsChannelSchema.optional(),
  })),
  agents: z.record(id, z.strictObject({
    owners: z.array(id),
    /**
     * The agent's IAM identities (role ARNs, or user ARNs): a caller of the credentials API signed as one of them,
     * or as a session of one of these roles, is this agent. None: the agent cannot get execution credentials.
     */
    iamPrincipalArns: z.array(z.string().regex(IAM_PRINCIPAL_ARN, 'must be an IAM role or user ARN such as "arn:aws:iam::123456789012:role/billing-agent"')).default([]),
    /** This agent's own flood-control limits. @default - the stack's `floodControl` limits */
    limits: AgentLimitsSchema.optional(),
  })),
  /** Flood control and quarantine (issue 16). @default - 5 open reviews and 20 approval requests per hour per agent, no auto-quarantine */
  floodControl: FloodControlSchema.optional(),
  /** The group told of execution violations that no approver group owns (an action nobody asked for, an auto-allowed one). */
  securityGroup: id.optional(),
}).superRefine((directory, ctx) => {
  const known = new Set(directory.members.map((m) => m.id));
  for (const [group, { channel, teamsChannel }] of Object.entries(directory.groups)) {
    if (channel === undefined && teamsChannel === undefined) ctx.addIssue({ code: 'custom', path: ['groups', group], message: 'needs a Slack "channel", a "teamsChannel", or both, to be asked in' });
  }
  const aadIds = new Set<string>();
  for (const [index, { teamsAadObjectId }] of directory.members.entries()) {
    if (teamsAadObjectId === undefined) continue;
    if (aadIds.has(teamsAadObjectId)) ctx.addIssue({ code: 'custom', path: ['members', index, 'teamsAadObjectId'], message: `"${teamsAadObjectId}" is given to two members` });
    aadIds.add(teamsAadObjectId);
  }
  if (directory.securityGroup !== undefined && !(directory.securityGroup in directory.groups)) {
    ctx.addIssue({ code: 'custom', path: ['securityGroup'], message: `"${directory.securityGroup}" is not a group of the directory` });
  }
  const quarantineGroup = directory.floodControl?.quarantineGroup;
  if (quarantineGroup !== undefined && !(quarantineGroup in directory.groups)) {
    ctx.addIssue({ code: 'custom', path: ['floodControl', 'quarantineGroup'], message: `"${quarantineGroup}" is not a group of the directory` });
  }
  for (const [group, { members }] of Object.entries(directory.groups)) {
    for (const member of members) if (!known.has(member)) ctx.addIssue({ code: 'custom', path: ['groups', group, 'members'], message: `"${member}" is not a member of the directory` });
  }
  for (const [agent, { owners }] of Object.entries(directory.agents)) {
    for (const owner of owners) if (!known.has(owner)) ctx.addIssue({ code: 'custom', path: ['agents', agent, 'owners'], message: `"${owner}" is not a member of the directory` });
  }
  // One IAM identity, one party: a role listed for two members (or a member and an agent) lets each act as the
  // other (an agent approving its own requests). Roles compare by account and name, as their sessions do.
  const holders = new Map<string, string>();
  const claim = (arn: string, holder: string, path: (string | number)[]) => {
    const key = principalKey(arn);
    const earlier = holders.get(key);
    if (earlier !== undefined && earlier !== holder) ctx.addIssue({ code: 'custom', path, message: `"${arn}" is also the identity of ${earlier}: an IAM identity may belong to one member or agent only` });
    else holders.set(key, holder);
  };
  directory.members.forEach(({ id: member, iamPrincipalArns }, index) => iamPrincipalArns.forEach((arn, i) => claim(arn, `member "${member}"`, ['members', index, 'iamPrincipalArns', i])));
  for (const [agent, { iamPrincipalArns }] of Object.entries(directory.agents)) iamPrincipalArns.forEach((arn, i) => claim(arn, `agent "${agent}"`, ['agents', agent, 'iamPrincipalArns', i]));
});

/** A role as `role:<partition>:<account>:<name>` (its path does not make it another role); a user as its ARN. */
function principalKey(arn: string): string {
  const role = /^arn:(aws(?:-[a-z]+)*):iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]{1,64})$/.exec(arn);
  return role === null ? arn : `role:${role[1]}:${role[2]}:${role[3]}`;
}

export type Member = z.infer<typeof MemberSchema>;
export type DirectoryData = z.infer<typeof DirectorySchema>;

export class DirectoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DirectoryError';
  }
}

/** Lookups over a validated directory. */
export class Directory {
  private readonly bySlackId: Map<string, Member>;
  private readonly byId: Map<string, Member>;

  constructor(readonly data: DirectoryData) {
    this.byId = new Map(data.members.map((m) => [m.id, m]));
    this.bySlackId = new Map(data.members.map((m) => [m.slackUserId, m]));
  }

  static parse(json: unknown, where = 'directory'): Directory {
    const parsed = DirectorySchema.safeParse(json);
    if (!parsed.success) {
      throw new DirectoryError(`${where} is not a valid approver directory: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    return new Directory(parsed.data);
  }

  member(id: string): Member | undefined {
    return this.byId.get(id);
  }

  memberBySlackId(slackUserId: string): Member | undefined {
    return this.bySlackId.get(slackUserId);
  }

  /** The member a Teams user is, by the Entra ID object id Teams sends (`from.aadObjectId`). */
  memberByAadObjectId(aadObjectId: string): Member | undefined {
    const wanted = aadObjectId.toLowerCase();
    return this.data.members.find((m) => m.teamsAadObjectId === wanted);
  }

  memberByIamPrincipal(arn: string): Member | undefined {
    return this.data.members.find((m) => m.iamPrincipalArns.includes(arn));
  }

  isInGroup(member: Member, group: string): boolean {
    return this.data.groups[group]?.members.includes(member.id) ?? false;
  }

  membersOf(group: string): Member[] {
    return (this.data.groups[group]?.members ?? []).flatMap((id) => this.byId.get(id) ?? []);
  }

  /** The group's Slack channel. Throws for a group the directory does not have or that has no Slack channel. */
  channelOf(group: string): { id: string; name: string } {
    const channel = this.channelsOf(group).slack;
    if (channel === undefined) throw new DirectoryError(`approver group "${group}" has no Slack channel in the directory; add it under groups`);
    return channel;
  }

  /** Where a group is asked: its Slack channel, its Teams channel, or both. Throws for an unknown group. */
  channelsOf(group: string): { slack?: { id: string; name: string }; teams?: { id: string; name: string; team: string } } {
    const entry = this.data.groups[group];
    if (entry === undefined) throw new DirectoryError(`approver group "${group}" is not in the directory; add it under groups`);
    return { ...(entry.channel === undefined ? {} : { slack: entry.channel }), ...(entry.teamsChannel === undefined ? {} : { teams: entry.teamsChannel }) };
  }

  /** A group's channel name for a note: "#name" in Slack, "Team > name" in Teams. */
  channelLabel(group: string): string {
    const { slack, teams } = this.channelsOf(group);
    return [slack === undefined ? [] : [`#${slack.name}`], teams === undefined ? [] : [`${teams.team} > ${teams.name}`]].flat().join(' / ');
  }

  /** The agents whose IAM identity the SigV4 caller is (none for an identity that is no agent's). */
  agentIdsOfCaller(callerArn: string): string[] {
    return idsOfCaller(callerArn, Object.entries(this.data.agents).map(([agentId, agent]) => [agentId, agent.iamPrincipalArns] as const));
  }

  /** Whether the SigV4 caller (`authorizer.iam.userArn`) is this agent's own IAM identity. No mapping: never. */
  isAgentCaller(agentId: string, callerArn: string): boolean {
    const agent = Object.hasOwn(this.data.agents, agentId) ? this.data.agents[agentId] : undefined;
    return agent !== undefined && isCallerOneOf(callerArn, agent.iamPrincipalArns);
  }

  /** Flood control as configured, with its defaults. */
  floodControl(): FloodControlConfig {
    return this.data.floodControl ?? FloodControlSchema.parse({});
  }

  /** One agent's flood-control limits (its own, else the stack's). */
  limitsOf(agentId: string): AgentLimits {
    const agent = Object.hasOwn(this.data.agents, agentId) ? this.data.agents[agentId] : undefined;
    return limitsOf(this.floodControl(), agent?.limits);
  }

  /** How many execution-violation alerts one reporter may post per window. */
  violationAlertLimit(): ViolationAlertLimit {
    return this.data.floodControl?.violationAlerts ?? DEFAULT_VIOLATION_ALERT_LIMIT;
  }

  /** The automatic-quarantine rule, or undefined when it is off (the default). */
  autoQuarantine(): AutoQuarantineRule | undefined {
    return this.data.floodControl?.autoQuarantine;
  }

  /** The group that may quarantine any agent and lift it: `floodControl.quarantineGroup`, else `securityGroup`. */
  quarantineGroup(): string | undefined {
    return this.data.floodControl?.quarantineGroup ?? this.data.securityGroup;
  }

  ownersOf(agentId: string): Member[] {
    return (this.data.agents[agentId]?.owners ?? []).flatMap((id) => this.byId.get(id) ?? []);
  }

  /**
   * Whether `onBehalfOf` (free text from the agent) names this member. Fails towards "yes": the text
   * is NFKC-normalized, invisible format characters are dropped, and any e-mail address, Slack
   * mention (`<@U…>`) or word in it that is the member's id, e-mail or Slack id counts, so
   * `Bob <bob@example.com>`, `mailto:bob@example.com` or a full-width `ｂｏｂ` are all bob.
   */
  isOnBehalfOf(member: Member, onBehalfOf: string | null): boolean {
    if (onBehalfOf === null) return false;
    const text = onBehalfOf.normalize('NFKC').replace(/\p{Cf}/gu, '').toLowerCase();
    const names = new Set([member.id, member.email, member.slackUserId, ...(member.teamsAadObjectId === undefined ? [] : [member.teamsAadObjectId])].map((name) => name.toLowerCase()));
    const candidates = [
      text.trim(),
      ...(text.match(/[^\s<>()"',;:]+@[^\s<>()"',;:]+/g) ?? []),
      ...Array.from(text.matchAll(/<@([a-z0-9]+)(?:\|[^>]*)?>/g), (m) => m[1] ?? ''),
      ...text.split(/[^a-z0-9._@+-]+/),
    ];
    return candidates.some((candidate) => names.has(candidate.replace(/^mailto:/, '')));
  }
}
