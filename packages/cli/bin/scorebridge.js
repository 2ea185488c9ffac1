#!/usr/bin/env node
// The CLI is compiled on install (`npm ci` runs the root `prepare` script); this stub exists
// before that build so npm can link the binary.
import { main } from '../dist/index.js';

process.exitCode = await main(process.argv.slice(2));
