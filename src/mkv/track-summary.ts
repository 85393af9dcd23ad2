import { TrackType } from './ebml-ids.js';
import type { MkvTrack } from './mkv-types.js';

/** A track in a few words for log lines: `video V_MPEG4/ISO/AVC 1280x720`, `audio A_AAC 48000 Hz, 2 ch`. */
export const trackSummary = (track: MkvTrack): string => {
  const kind =
    track.type === TrackType.Video
      ? 'video'
      : track.type === TrackType.Audio
        ? 'audio'
        : `type ${track.type}`;
  const details =
    track.video !== undefined
      ? `${track.video.widthPx}x${track.video.heightPx}`
      : track.audio !== undefined
        ? `${track.audio.samplingFrequencyHz} Hz, ${track.audio.channels} ch`
        : '';
  return `${kind} ${track.codecId} ${details}`.trimEnd();
};
