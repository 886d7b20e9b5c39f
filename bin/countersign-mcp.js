#!/usr/bin/env node
// The `countersign-mcp` command (package.json "bin"): runs mcp/main.ts with tsx's loader, so the
// gateway runs from the repository's TypeScript sources as `npm run mcp` does.
import { register } from 'tsx/esm/api';

register();
await import('../mcp/main.ts');
