import { UserError } from '../../errors.js';
import type { AlertThresholds } from './rules.js';

const THRESHOLDS: Record<
  string,
  { field: keyof AlertThresholds; min: number; max: number; scale: number }
> = {
  temperature: { field: 'temperatureC', min: 0, max: 150, scale: 1 },
  disk: { field: 'diskRatio', min: 1, max: 100, scale: 0.01 },
  offline: { field: 'offlineAfterMs', min: 30, max: 86_400, scale: 1000 },
};

/** `--alert-threshold NAME=VALUE` (temperature °C, disk %, offline s) to a threshold. */
export function parseThreshold(spec: string): Partial<AlertThresholds> {
  const match = /^([a-z]+)=(\d+(?:\.\d+)?)$/.exec(spec);
  const known = match && THRESHOLDS[match[1]!];
  const value = Number(match?.[2]);
  if (!known || value < known.min || value > known.max) {
    throw new UserError(`--alert-threshold ${spec} is not a threshold this hub knows`, {
      hint: 'temperature=75 (°C, 0-150), disk=95 (%, 1-100) or offline=120 (seconds, 30-86400)',
      exitCode: 2,
    });
  }
  return { [known.field]: value * known.scale };
}
