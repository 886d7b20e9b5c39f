import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Directory, type DirectoryData } from '../shared/domain/directory.js';
import { LOCAL_ACCOUNT_ID } from './event-bus.js';

/**
 * The approver directory the local stack runs with: `config/directory.json`, or the file
 * COUNTERSIGN_DIRECTORY_FILE names, plus one local IAM principal per member, so that the votes API
 * (AWS_IAM auth in AWS) can be called as any member: the local stack signs nothing, it takes the
 * `x-countersign-reviewer: <member id>` header as the caller `arn:aws:iam::000000000000:user/<id>`.
 * The copy is written to the data folder and the handlers are pointed at it.
 */

export const REVIEWER_HEADER = 'x-countersign-reviewer';
/** The local stand-in for an agent's SigV4 signature on the credentials API: `x-countersign-agent: <agent id>`. */
export const AGENT_HEADER = 'x-countersign-agent';

/** The IAM role each agent has locally (`agents.<id>.iamPrincipalArns`); a session of it is the caller the credentials API sees. */
export function localAgentRoleArn(agentId: string): string {
  return `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/countersign-local-agent-${agentId}`;
}

/** What an AWS_IAM Function URL reports for a session of the agent's local role. */
export function localAgentSessionArn(agentId: string): string {
  return `arn:aws:sts::${LOCAL_ACCOUNT_ID}:assumed-role/countersign-local-agent-${agentId}/local`;
}

export function localIamPrincipalArn(memberId: string): string {
  return `arn:aws:iam::${LOCAL_ACCOUNT_ID}:user/${memberId}`;
}

export interface LocalDirectory {
  /** The file the handlers read (COUNTERSIGN_DIRECTORY_FILE). */
  file: string;
  data: DirectoryData;
}

export function writeLocalDirectory(sourceFile: string, dataDir: string): LocalDirectory {
  const source = Directory.parse(JSON.parse(readFileSync(sourceFile, 'utf8')) as unknown, sourceFile);
  const data: DirectoryData = {
    ...source.data,
    members: source.data.members.map((member) => ({
      ...member,
      iamPrincipalArns: [...new Set([...member.iamPrincipalArns, localIamPrincipalArn(member.id)])],
    })),
    agents: Object.fromEntries(Object.entries(source.data.agents).map(([id, agent]) => [id, { ...agent, iamPrincipalArns: [...new Set([...agent.iamPrincipalArns, localAgentRoleArn(id)])] }])),
  };
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'directory.json');
  writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`, 'utf8');
  return { file, data };
}
