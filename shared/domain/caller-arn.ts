/**
 * Matching the IAM caller a Function URL reports (`authorizer.iam.userArn`) against the principals the
 * directory lists. No schema library here: the decision API, a small and hot bundle, uses it too.
 */

/** What a Function URL's `authorizer.iam.userArn` holds for a role session: `arn:<p>:sts::<acct>:assumed-role/<name>/<session>`. */
const ASSUMED_ROLE_ARN = /^arn:(aws(?:-[a-z]+)*):sts::(\d{12}):assumed-role\/([\w+=,.@-]{1,64})\/[\w+=,.@-]{2,64}$/;
const ROLE_ARN = /^arn:(aws(?:-[a-z]+)*):iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]{1,64})$/;

/** The ids whose principals include the caller (`isCallerOneOf`), in the order given. */
export function idsOfCaller(callerArn: string, principalsById: Iterable<readonly [string, readonly string[]]>): string[] {
  const ids: string[] = [];
  for (const [id, arns] of principalsById) if (isCallerOneOf(callerArn, arns)) ids.push(id);
  return ids;
}

/**
 * Whether an IAM caller is one of these principals: the same ARN, or a session of one of these roles (the
 * assumed-role ARN has the role's name, not its path; a role name is unique in its account whatever its path).
 */
export function isCallerOneOf(callerArn: string, principalArns: readonly string[]): boolean {
  if (principalArns.includes(callerArn)) return true;
  const session = ASSUMED_ROLE_ARN.exec(callerArn);
  if (session === null) return false;
  const [, partition, account, roleName] = session;
  return principalArns.some((arn) => {
    const role = ROLE_ARN.exec(arn);
    return role !== null && role[1] === partition && role[2] === account && role[3] === roleName;
  });
}
