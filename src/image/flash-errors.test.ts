import { describe, expect, it } from 'vitest';
import { UserError } from '../errors.js';
import { flashError } from './flash-errors.js';

const errno = (code: string) => Object.assign(new Error(`${code}: failed`), { code });
const card = { target: '/dev/sdb', device: true, offset: 512 * 1024 ** 2 };
const file = { target: '/tmp/pi.img', device: false, offset: 0 };

function advice(code: string, place = card) {
  const error = flashError(errno(code), place);
  expect(error, code).toBeInstanceOf(UserError);
  const { message, hint } = error as UserError;
  return { message, hint };
}

describe('flashError', () => {
  it('points a permission error on a card at sudo and the write-protect switch', () => {
    for (const code of ['EACCES', 'EPERM']) {
      expect(advice(code)).toEqual({
        message: `/dev/sdb: permission denied (${code})`,
        hint: "run with sudo, or check the card's write-protect switch",
      });
    }
    expect(advice('EACCES', file).hint).toMatch(/file mode/);
  });

  it('names the write-protect switch for EROFS and a small card for ENOSPC', () => {
    expect(advice('EROFS').hint).toMatch(/write-protected: slide its lock switch/);
    expect(advice('ENOSPC')).toEqual({
      message: '/dev/sdb: no space left at byte 536870912 (512 MiB) (ENOSPC)',
      hint: 'the card is full/smaller than the image: use a bigger card',
    });
    expect(advice('ENOSPC', file).hint).toBe('the disk holding the file is full');
  });

  it('says where a card was removed or failed mid-write', () => {
    for (const code of ['EIO', 'ENXIO', 'ENODEV']) {
      expect(advice(code).message).toBe(
        `/dev/sdb: the card was removed or failed at byte 536870912 (512 MiB) (${code})`,
      );
    }
    // A file on a failing disk is not "the card": no card advice for it.
    expect(flashError(errno('EIO'), file)).not.toBeInstanceOf(UserError);
  });

  it('passes through errors it has no advice for, and UserErrors as they are', () => {
    const odd = errno('EWHATEVER');
    expect(flashError(odd, card)).toBe(odd);
    const plain = new Error('bug');
    expect(flashError(plain, card)).toBe(plain);
    const user = new UserError('already explained');
    expect(flashError(user, card)).toBe(user);
  });
});
