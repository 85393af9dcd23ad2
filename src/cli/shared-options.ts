import { Option } from 'commander';
import { parseNonNegativeMs } from './option-parsers.js';

/** Options that mean the same in every command that cuts fragments (put, inspect). */
export const timecodeOption = (): Option =>
  new Option('--timecode <mode>', 'cluster timecodes: absolute epoch ms, or relative to the start time')
    .choices(['absolute', 'relative'])
    .default('absolute');

export const minFragmentDurationOption = (): Option =>
  new Option(
    '--min-fragment-duration <ms>',
    'a key frame starts a fragment only this long after the last start',
  ).argParser(parseNonNegativeMs);
