// What a phone may send, checked before anything happens (a phone is anyone on the venue's Wi-Fi).
import { z } from 'zod';
import { browserLoadSchema, colorSchema } from '../../lib/registry/index.ts';

/** The browser's own key, made by the server at its first join and kept in localStorage. */
export const phoneKeySchema = z.string().regex(/^[A-Za-z0-9_-]{32}$/, '32 letters, digits, - or _');

export const joinRequestSchema = z.strictObject({ key: phoneKeySchema.optional() });
export const appliedRequestSchema = z.strictObject({ color: colorSchema });
/** A beat, with what the page measured of itself now and then (kind "browser": loop delay, battery). */
export const beatRequestSchema = z.strictObject({ load: browserLoadSchema.optional() });
/** The presenter's switch (on the main page's socket). */
export const joiningRequestSchema = z.strictObject({ joining: z.boolean({ error: 'true or false' }) });
