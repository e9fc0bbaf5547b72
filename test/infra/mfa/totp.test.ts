/**
 * HOTP and TOTP against the RFCs' own test vectors (RFC 4226 Appendix D, RFC 6238
 * Appendix B), then what the service adds: drift of one step, base32, the otpauth URI and
 * the QR code.
 */
import t from 'tap';
import { APP_TOTP, base32Decode, base32Encode, createOneTimeCodes, hotp, matchTotpStep, totpAt, type TotpAlgorithm } from '../../../src/infra/mfa/totp.js';

const SEEDS: Record<TotpAlgorithm, Buffer> = {
  sha1: Buffer.from('12345678901234567890', 'ascii'),
  sha256: Buffer.from('12345678901234567890123456789012', 'ascii'),
  sha512: Buffer.from('1234567890123456789012345678901234567890123456789012345678901234', 'ascii'),
};

t.test('RFC 4226 Appendix D: HOTP of counts 0 to 9', async (t) => {
  const expected = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489'];
  expected.forEach((code, count) => t.equal(hotp(SEEDS.sha1, count, 6), code, `count ${count}`));
});

t.test('RFC 6238 Appendix B: TOTP, 8 digits, 30 s steps, SHA-1/256/512', async (t) => {
  const table: [number, string, string, string][] = [
    [59, '94287082', '46119246', '90693936'],
    [1111111109, '07081804', '68084774', '25091201'],
    [1111111111, '14050471', '67062674', '99943326'],
    [1234567890, '89005924', '91819424', '93441116'],
    [2000000000, '69279037', '90698825', '38618901'],
    [20000000000, '65353130', '77737706', '47863826'],
  ];
  for (const [time, sha1, sha256, sha512] of table) {
    for (const [algorithm, code] of [['sha1', sha1], ['sha256', sha256], ['sha512', sha512]] as const) {
      t.equal(totpAt(SEEDS[algorithm], time, { algorithm, digits: 8, periodSeconds: 30 }), code, `T=${time} ${algorithm}`);
    }
  }
});

t.test('a code matches its step and one step either side, nothing further', async (t) => {
  const key = SEEDS.sha1;
  const now = new Date(1_700_000_015_000); // mid-step
  const step = Math.floor(now.getTime() / 1000 / 30);
  for (const offset of [-1, 0, 1]) {
    t.equal(matchTotpStep(key, totpAt(key, (step + offset) * 30), now), step + offset, `offset ${offset}`);
  }
  for (const offset of [-3, -2, 2, 3]) {
    const code = totpAt(key, (step + offset) * 30);
    const nearby = [-1, 0, 1].map((o) => totpAt(key, (step + o) * 30));
    if (!nearby.includes(code)) t.equal(matchTotpStep(key, code, now), null, `offset ${offset} is refused`);
  }
  t.equal(matchTotpStep(key, ` ${totpAt(key, step * 30).slice(0, 3)} ${totpAt(key, step * 30).slice(3)} `, now), step, 'spaces are ignored');
  for (const bad of ['', '12345', '1234567', 'abcdef', '12345a', '１２３４５６']) t.equal(matchTotpStep(key, bad, now), null, JSON.stringify(bad));
});

t.test('base32 (RFC 4648 §10 vectors) round trips and refuses other alphabets', async (t) => {
  const vectors: [string, string][] = [['', ''], ['f', 'MY'], ['fo', 'MZXQ'], ['foo', 'MZXW6'], ['foob', 'MZXW6YQ'], ['fooba', 'MZXW6YTB'], ['foobar', 'MZXW6YTBOI']];
  for (const [plain, encoded] of vectors) {
    t.equal(base32Encode(Buffer.from(plain)), encoded, `encode ${plain}`);
    t.equal(base32Decode(encoded)?.toString(), plain, `decode ${encoded}`);
  }
  t.equal(base32Decode('mzxw 6ytb oi==')?.toString(), 'foobar', 'case, spaces and padding are ignored');
  t.equal(base32Decode('MZXW1'), null, '1 is not base32');
});

t.test('the service\'s codes: 160-bit secrets, an otpauth URI apps take, an SVG QR code', async (t) => {
  const codes = createOneTimeCodes('Acme & Co');
  const secret = codes.newSecret();
  t.match(secret, /^[A-Z2-7]{32}$/, '32 base32 characters: 160 bits');
  t.not(codes.newSecret(), secret, 'random');
  const uri = new URL(codes.uri(secret, 'ada@example.com'));
  t.equal(uri.protocol, 'otpauth:');
  t.equal(uri.host, 'totp');
  t.equal(decodeURIComponent(uri.pathname.slice(1)), 'Acme & Co:ada@example.com', 'issuer:account in the label');
  t.same(Object.fromEntries(uri.searchParams), { secret, issuer: 'Acme & Co', algorithm: 'SHA1', digits: '6', period: '30' });
  const now = new Date();
  const key = base32Decode(secret) as Buffer;
  t.equal(codes.matchStep(secret, totpAt(key, Math.floor(now.getTime() / 1000), APP_TOTP), now), Math.floor(now.getTime() / 30_000));
  t.equal(codes.matchStep('not base32!', '123456', now), null, 'a secret that is not base32 matches nothing');
  const qr = await codes.qrCode(uri.toString());
  t.match(qr, /^data:image\/svg\+xml;base64,/);
  t.match(Buffer.from(qr.split(',')[1] as string, 'base64').toString('utf8'), /^<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
});
