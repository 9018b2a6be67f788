// Friendly ids for the audience's phones: "brave-otter-3f". Read out loud, found on the projector,
// and valid device ids in every store (letters, digits and '-').
import { randomInt } from 'node:crypto';

const ADJECTIVES = [
  'brave',
  'calm',
  'clever',
  'eager',
  'fancy',
  'gentle',
  'happy',
  'jolly',
  'keen',
  'lively',
  'lucky',
  'merry',
  'nimble',
  'proud',
  'quick',
  'quiet',
  'rapid',
  'shiny',
  'silly',
  'sunny',
  'swift',
  'tidy',
  'witty',
  'zesty',
  'bold',
  'cosy',
  'daring',
  'fuzzy',
  'noble',
  'plucky',
  'sleepy',
  'spicy',
] as const;

const ANIMALS = [
  'otter',
  'panda',
  'koala',
  'tiger',
  'eagle',
  'whale',
  'zebra',
  'lemur',
  'moose',
  'gecko',
  'heron',
  'llama',
  'bison',
  'camel',
  'crane',
  'dingo',
  'ferret',
  'finch',
  'hippo',
  'ibis',
  'jaguar',
  'lynx',
  'marmot',
  'newt',
  'okapi',
  'puffin',
  'quokka',
  'raven',
  'seal',
  'tapir',
  'walrus',
  'yak',
] as const;

const pick = <T>(list: readonly T[], random: (n: number) => number): T => list[random(list.length)]!;

/** A new id not in `taken` (32 x 32 x 256 names; after 50 draws, a longer suffix). */
export function friendlyId(
  taken: (id: string) => boolean,
  random: (n: number) => number = randomInt,
): string {
  for (let attempt = 0; ; attempt++) {
    const digits = attempt < 50 ? 2 : 6;
    const suffix = random(16 ** digits)
      .toString(16)
      .padStart(digits, '0');
    const id = `${pick(ADJECTIVES, random)}-${pick(ANIMALS, random)}-${suffix}`;
    if (!taken(id)) return id;
  }
}
