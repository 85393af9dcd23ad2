/**
 * The names of the tags KVS gives a meaning to (kvs-api.md §7.5, §8): those a producer may send in a PutMedia
 * body, and those the service writes around each fragment it serves through GetMedia and
 * GetMediaForFragmentList. They live with the Matroska code because the writer sends one of them and both the
 * client and the local KVS read them from Tags elements.
 */
export const KvsTag = {
  /** Sent after a fragment's last frame: the service closes the fragment at once (§7.5). */
  EndOfFragment: 'AWS_KINESISVIDEO_END_OF_FRAGMENT',
  /** Reserved event tags AWS's producers send, which the service accepts as fragment metadata (§7.5). */
  Notification: 'AWS_KINESISVIDEO_NOTIFICATION',
  ImageGeneration: 'AWS_KINESISVIDEO_IMAGE_GENERATION',
  ImagePrefix: 'AWS_KINESISVIDEO_IMAGE_PREFIX',
  /** Written before each served fragment's Cluster (§8). */
  FragmentNumber: 'AWS_KINESISVIDEO_FRAGMENT_NUMBER',
  ServerTimestamp: 'AWS_KINESISVIDEO_SERVER_TIMESTAMP',
  ProducerTimestamp: 'AWS_KINESISVIDEO_PRODUCER_TIMESTAMP',
  /** Written after each fragment GetMedia serves (§8). */
  MillisBehindNow: 'AWS_KINESISVIDEO_MILLIS_BEHIND_NOW',
  ContinuationToken: 'AWS_KINESISVIDEO_CONTINUATION_TOKEN',
} as const;
export type KvsTag = (typeof KvsTag)[keyof typeof KvsTag];
