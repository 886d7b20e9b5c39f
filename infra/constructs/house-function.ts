import { existsSync, statSync } from 'node:fs';
import { isAbsolute, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, Validations } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** The repository root: bundling and the default paths of entries and data files are resolved from it. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export type PowertoolsLogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

/** A file copied into the bundle next to the bundled handler, for things read from disk at run time. */
export interface BundledFile {
  /** Path of the file on the machine that synthesizes (absolute, or relative to the project root). */
  readonly source: string;
  /**
   * Directory inside the bundle, relative to its root (where `index.mjs` is); `''` is the root itself.
   * In Lambda the bundle root is `/var/task`.
   */
  readonly targetDir: string;
}

export interface HouseFunctionProps {
  /** The handler module, absolute or relative to the project root, e.g. `functions/decision-api/handler.ts`. */
  readonly entry: string;
  /** `POWERTOOLS_SERVICE_NAME`: names the function in logs, metrics and traces. */
  readonly serviceName: string;
  /** @default - no description */
  readonly description?: string;
  /**
   * Name of the exported handler function.
   * @default 'handler'
   */
  readonly handler?: string;
  /**
   * Environment variables on top of the house ones (Powertools, source maps).
   * @default - only the house variables
   */
  readonly environment?: Record<string, string>;
  /**
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * @default Duration.seconds(10)
   */
  readonly timeout?: Duration;
  /**
   * Retention of the function's log group.
   * @default RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: RetentionDays;
  /**
   * `LOG_LEVEL` for the Powertools logger.
   * @default 'INFO'
   */
  readonly logLevel?: PowertoolsLogLevel;
  /**
   * Files copied into the bundle after esbuild runs (policies, `.wasm` binaries read with `fs`).
   * @default - none
   */
  readonly bundledFiles?: readonly BundledFile[];
  /**
   * Where asynchronous invocations that fail every attempt go. The role may send to it and, when the queue
   * has a KMS key, use the key to encrypt messages (kms:GenerateDataKey, kms:Decrypt).
   * @default - no dead-letter queue
   */
  readonly deadLetterQueue?: IQueue;
  /**
   * Ship a source map (`index.mjs.map`) in the bundle, so a stack trace logged from the minified bundle can
   * be mapped to the TypeScript lines offline (the map is in the deployed package). The runtime flag that
   * maps every trace as it is thrown is `mapStackTraces`.
   * @default true
   */
  readonly sourceMaps?: boolean;
  /**
   * Run with `NODE_OPTIONS=--enable-source-maps` (needs `sourceMaps`): Node then reads the map when the bundle
   * loads. Measured by `npm run bench` (bench/bundle-bench.ts): it adds about a quarter to each function's
   * module init, on every cold start, to make the stack traces of the rare failure readable in the log; so
   * it is off, and a trace is mapped offline with the shipped map (README, design notes).
   * @default false
   */
  readonly mapStackTraces?: boolean;
  /**
   * Retries of a failed asynchronous invocation (0–2).
   * @default - Lambda's default, 2
   */
  readonly retryAttempts?: number;
  /**
   * Maximum age of an asynchronous invocation event before Lambda gives up on it (1 min – 6 h).
   * @default - Lambda's default, 6 hours
   */
  readonly maxEventAge?: Duration;
}

/**
 * The one way this project builds a Lambda function: Node.js 22 on ARM64, X-Ray active tracing, its own log
 * group with a retention, an ESM bundle made by the local esbuild (minified, with source maps) that includes
 * the AWS SDK versions the project pins, and a role that starts empty (no AWS managed policy: logging is
 * granted on the function's own log group only).
 */
export class HouseFunction extends Construct {
  readonly function: NodejsFunction;
  readonly role: Role;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: HouseFunctionProps) {
    super(scope, id);
    const entry = absolute(props.entry);
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(props.serviceName)) {
      throw new Error(`HouseFunction ${id}: serviceName "${props.serviceName}" must be 1-64 characters of letters, digits, ".", "_" or "-"`);
    }
    if (props.memorySize !== undefined && (!Number.isInteger(props.memorySize) || props.memorySize < 128 || props.memorySize > 10240)) {
      throw new Error(`HouseFunction ${id}: memorySize must be an integer from 128 to 10240 MB, got ${props.memorySize}`);
    }
    const bundledFiles = (props.bundledFiles ?? []).map((file) => checkBundledFile(id, file));

    const sourceMaps = props.sourceMaps ?? true;
    const mapStackTraces = props.mapStackTraces ?? false;
    if (mapStackTraces && !sourceMaps) throw new Error(`HouseFunction ${id}: mapStackTraces needs sourceMaps (there is no map to read)`);
    this.logGroup = new LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? RetentionDays.THREE_MONTHS,
    });
    // A role of our own instead of the default one: the default attaches AWSLambdaBasicExecutionRole, which
    // lets the function create log groups and write to any of them.
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${props.serviceName}`,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, 'Function', {
      entry,
      handler: props.handler ?? 'handler',
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(10),
      tracing: Tracing.ACTIVE,
      role: this.role,
      logGroup: this.logGroup,
      deadLetterQueue: props.deadLetterQueue,
      retryAttempts: props.retryAttempts,
      maxEventAge: props.maxEventAge,
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      environment: {
        ...(mapStackTraces ? { NODE_OPTIONS: '--enable-source-maps' } : {}),
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: 'Countersign',
        LOG_LEVEL: props.logLevel ?? 'INFO',
        ...props.environment,
      },
      bundling: {
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: 'node22',
        mainFields: ['module', 'main'],
        minify: true,
        sourceMap: sourceMaps,
        ...(sourceMaps ? { sourceMapMode: SourceMapMode.DEFAULT, sourcesContent: false } : {}),
        // Ship the SDK versions package-lock.json pins (and that the tests ran against), not whatever
        // version the Lambda runtime happens to carry.
        bundleAwsSDK: true,
        externalModules: [],
        // CommonJS packages inside an ESM bundle still call require() and read __dirname/__filename
        // (cedar-wasm reads its .wasm file from `${__dirname}`); ESM has neither, so define them.
        banner: ESM_COMMONJS_SHIM,
        commandHooks: {
          beforeBundling: () => [],
          beforeInstall: () => [],
          afterBundling: (_inputDir: string, outputDir: string) => copyCommands(outputDir, bundledFiles),
        },
      },
    });

    // Lambda sends failed asynchronous events to the queue with the execution role; an SSE-KMS queue needs the
    // sender to hold GenerateDataKey and Decrypt on its key (the Function construct grants only sqs:SendMessage).
    props.deadLetterQueue?.encryptionMasterKey?.grant(this.role, 'kms:GenerateDataKey', 'kms:Decrypt');

    Validations.of(this).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'X-Ray PutTraceSegments/PutTelemetryRecords (added by active tracing) support no resource-level permissions. The least-privilege infra test fails if any other statement of this role uses "*".',
    });
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-L1',
      reason: 'The project pins nodejs22.x on purpose (DESIGN.md: the same code runs on Node 20 locally and Node 22 in Lambda); the runtime moves with the toolchain, not with each CDK release.',
    });
  }
}

/** Defines require, __filename and __dirname in an ESM bundle (the bench bundles its baseline with it too). */
export const ESM_COMMONJS_SHIM = [
  "import { createRequire as __houseCreateRequire } from 'node:module';",
  "import { fileURLToPath as __houseFileURLToPath } from 'node:url';",
  "import { dirname as __houseDirname } from 'node:path';",
  'const require = __houseCreateRequire(import.meta.url);',
  'const __filename = __houseFileURLToPath(import.meta.url);',
  'const __dirname = __houseDirname(__filename);',
].join(' ');

function absolute(path: string): string {
  return isAbsolute(path) ? path : resolve(PROJECT_ROOT, path);
}

function checkBundledFile(id: string, file: BundledFile): BundledFile {
  const source = absolute(file.source);
  if (!existsSync(source) || !statSync(source).isFile()) {
    throw new Error(`HouseFunction ${id}: bundled file ${source} does not exist or is not a file`);
  }
  const targetDir = posix.normalize(file.targetDir === '' ? '.' : file.targetDir);
  if (posix.isAbsolute(targetDir) || targetDir.startsWith('..')) {
    throw new Error(`HouseFunction ${id}: targetDir "${file.targetDir}" must be a relative path inside the bundle`);
  }
  return { source, targetDir };
}

/** Shell commands (local bundling runs them with bash) that copy the files into the bundle. */
function copyCommands(outputDir: string, files: readonly BundledFile[]): string[] {
  return files.flatMap((file) => {
    const dir = file.targetDir === '.' ? outputDir : posix.join(outputDir, file.targetDir);
    return [`mkdir -p ${shellQuote(dir)}`, `cp ${shellQuote(file.source)} ${shellQuote(dir)}/`];
  });
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
