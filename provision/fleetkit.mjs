#!/usr/bin/env node
// The `fleetkit` command as installed by npm: runs the TypeScript entry through tsx's loader.
import { register } from 'tsx/esm/api';

register();
await import('./fleetkit.ts');
