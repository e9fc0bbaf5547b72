/** The hasher that also verifies imported hashes: what it upgrades, and how it pads timing. */
import t from 'tap';
import { Argon2Hasher } from '../../../src/infra/passwordHasher.js';
import { LegacyAwareHasher, TimingFloor } from '../../../src/infra/passwords/legacy.js';

const native = new Argon2Hasher({ memoryCost: 1024, timeCost: 1, parallelism: 1 });
const pbkdf2 = 'pbkdf2_sha256$1000$Fixed0salt1for2tests34$wmsQggFT3R647vXBR7HTU5guoltYyHWIzszfthhjWcM=';

void t.test('what is upgraded and what an import may bring', async (t) => {
  const hasher = new LegacyAwareHasher(native);
  const ours = await hasher.hash('correct horse battery staple');
  t.equal(hasher.needsUpgrade(ours), false, 'our own hash at our parameters');
  t.equal(hasher.needsUpgrade(pbkdf2), true, 'a Django hash');
  t.equal(hasher.needsUpgrade(await new Argon2Hasher({ memoryCost: 2048, timeCost: 1, parallelism: 1 }).hash('x-y-z-w-v')), true,
    'an argon2id hash at other parameters');
  t.ok(await hasher.verify(pbkdf2, 'correct horse battery staple'));
  t.notOk(await hasher.verify(pbkdf2, 'correct horse battery stapler'));
  t.strictSame(hasher.classifyImported(pbkdf2), { kind: 'hash', algorithm: 'pbkdf2_sha256' });
  t.strictSame(hasher.classifyImported('!abc'), { kind: 'unusable' });
  t.strictSame(hasher.classifyImported(null), { kind: 'unusable' });
  t.match(hasher.classifyImported('md5$salt$e8867d9f90c9a872c05753b182920944'), { kind: 'refused', reason: /md5/ });
  t.strictSame(hasher.classifyImported(ours), { kind: 'hash', algorithm: 'argon2id' });
});

void t.test('timing: padded to the slowest typical kind while foreign hashes are verified, then not', async (t) => {
  let now = 0;
  const floor = new TimingFloor({ windowMs: 60_000, now: () => now });
  floor.observe('native', 40, false);
  t.equal(floor.floor(), 0, 'no foreign hash verified: no padding');
  floor.observe('django:bcrypt', 250, true);
  t.equal(floor.floor(), 250, 'every verification takes as long as a bcrypt one');
  floor.observe('django:bcrypt', 5000, true);
  t.ok(floor.floor() < 1250 && floor.floor() > 250, 'one outlier moves the average a fifth of the way');
  floor.observe('django:pbkdf2_sha256', 60_000, true);
  t.equal(floor.floor(), 1000, 'never more than a second');
  now = 61_000;
  t.equal(floor.floor(), 0, 'no foreign verification within the window: padding off');
});

void t.test('an unknown user costs the same as an imported one, once imported hashes are in use', async (t) => {
  const hasher = new LegacyAwareHasher(native);
  const slow = 'pbkdf2_sha256$260000$Fixed0salt1for2tests34$nHT4E/RNtHHfHHyxMZhqNskqpAj/H973ugAr313M7yY=';
  await hasher.verify(slow, 'whatever-it-is');
  const time = async (stored: string | null): Promise<number> => {
    const started = performance.now();
    await hasher.verify(stored, 'a-wrong-password');
    return performance.now() - started;
  };
  // Medians of alternating samples: one sample of each, on a loaded CI machine, once differed by a third.
  const foreign: number[] = [];
  const unknown: number[] = [];
  for (let i = 0; i < 5; i++) {
    foreign.push(await time(slow));
    unknown.push(await time(null));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
  t.ok(median(unknown) >= median(foreign) * 0.7,
    `unknown identifier ${median(unknown).toFixed(0)} ms, imported ${median(foreign).toFixed(0)} ms (medians of 5)`);
});
