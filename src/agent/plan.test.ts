import { describe, expect, it } from 'vitest';
import { describePlan, planDeploy } from './plan.js';

const svc = (run: string) => `[Service]\nType=exec\nExecStart=${run}\n`;
const job = `[Service]\nType=oneshot\nExecStart=./job\n`;
const timer = `[Timer]\nOnCalendar=daily\n`;

describe('planDeploy', () => {
  it('does nothing for an unchanged app', () => {
    const units = { 'piot-a-web.service': svc('web') };
    expect(
      planDeploy({ commit: 'c1', units }, { commit: 'c1', units, codeChanged: false }),
    ).toEqual([]);
  });

  it('installs a first release: write, reload, switch, enable and start long-running units only', () => {
    const steps = planDeploy(
      { units: {} },
      {
        commit: 'c1',
        units: {
          'piot-a-web.service': svc('web'),
          'piot-a-backup.service': job,
          'piot-a-backup.timer': timer,
        },
        codeChanged: true,
      },
    );
    expect(describePlan(steps).split('\n')).toEqual([
      'write piot-a-backup.service',
      'write piot-a-backup.timer',
      'write piot-a-web.service',
      'reload systemd',
      'switch current → c1',
      'enable piot-a-backup.timer',
      'start piot-a-backup.timer',
      'enable piot-a-web.service',
      'start piot-a-web.service',
    ]);
  });

  it('restarts only the service whose unit changed when the code did not', () => {
    const before = { 'piot-a-web.service': svc('web'), 'piot-a-worker.service': svc('worker') };
    const after = { ...before, 'piot-a-worker.service': svc('worker --fast') };
    const steps = planDeploy(
      { commit: 'c1', units: before },
      { commit: 'c2', units: after, codeChanged: false },
    );
    expect(steps.filter((s) => s.action === 'restart')).toEqual([
      { action: 'restart', unit: 'piot-a-worker.service' },
    ]);
    expect(steps).toContainEqual({ action: 'switch-current', commit: 'c2' });
  });

  it('restarts every service (not timers) when the code changed', () => {
    const units = {
      'piot-a-web.service': svc('web'),
      'piot-a-b.service': job,
      'piot-a-b.timer': timer,
    };
    const steps = planDeploy({ commit: 'c1', units }, { commit: 'c2', units, codeChanged: true });
    expect(describePlan(steps).split('\n')).toEqual([
      'switch current → c2',
      'restart piot-a-web.service',
    ]);
  });

  it('stops, disables and removes stale units before starting new ones', () => {
    const steps = planDeploy(
      { commit: 'c1', units: { 'piot-a-old.service': svc('old') } },
      { commit: 'c2', units: { 'piot-a-new.service': svc('new') }, codeChanged: false },
    );
    expect(describePlan(steps).split('\n')).toEqual([
      'write piot-a-new.service',
      'stop piot-a-old.service',
      'disable piot-a-old.service',
      'remove-unit piot-a-old.service',
      'reload systemd',
      'switch current → c2',
      'enable piot-a-new.service',
      'start piot-a-new.service',
    ]);
  });

  it('removes every unit and the current link when there is no release to run', () => {
    const steps = planDeploy(
      { commit: 'c1', units: { 'piot-a-web.service': svc('web') } },
      { commit: undefined, units: {}, codeChanged: false },
    );
    expect(describePlan(steps).split('\n')).toEqual([
      'stop piot-a-web.service',
      'disable piot-a-web.service',
      'remove-unit piot-a-web.service',
      'reload systemd',
      'remove current',
    ]);
  });
});
