import { describe, expect, it } from 'vitest';
import { ErrorCode, KvsPutError } from '../../src/errors.js';
import { checkServiceRules, configuredEndpoint, isValidStreamArn } from '../../src/upload/service-rules.js';
import type { UploadOptions } from '../../src/upload/upload-options.js';

/** The message of the usage error `options` (with `env`) are refused with, or undefined when accepted. */
const refusal = (options: UploadOptions, env: Record<string, string> = {}): string | undefined => {
  try {
    checkServiceRules(options, env);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(KvsPutError);
    expect((error as KvsPutError).code).toBe(ErrorCode.Usage);
    return (error as KvsPutError).message;
  }
};

describe('service rules: what the service would refuse, refused before any call', () => {
  it('takes stream ARNs of the service model, with the stream/ resource type', () => {
    expect(isValidStreamArn('arn:aws:kinesisvideo:us-east-1:123456789012:stream/cam-1/1551924009774')).toBe(
      true,
    );
    expect(isValidStreamArn('arn:aws-cn:kinesisvideo:cn-north-1:1:stream/a.b_c/1')).toBe(true);
    for (const arn of [
      'nonsense',
      'arn:aws:kinesisvideo:us-east-1:123456789012:channel/cam/1',
      'arn:aws:kinesisvideo:us-east-1:123456789012:stream/bad name/1',
      'arn:aws:s3:us-east-1:123456789012:stream/cam/1',
      `arn:aws:kinesisvideo:us-east-1:1:stream/${'a'.repeat(1020)}/1`,
    ]) {
      expect(isValidStreamArn(arn), arn).toBe(false);
    }
  });

  it('refuses a stream named both ways', () => {
    expect(refusal({ stream: 's', streamArn: 'arn:aws:kinesisvideo:us-east-1:1:stream/s/1' })).toBe(
      'give --stream or --stream-arn, not both',
    );
  });

  it('checks the endpoint the SDK would use: the option first, then each variable, by name', () => {
    expect(refusal({ stream: 's', endpointUrl: 'ftp://x' })).toMatch(/^--endpoint-url takes an http/);
    expect(refusal({ stream: 's', endpointUrl: 'http://127.0.0.1:1' }, { AWS_ENDPOINT_URL: 'bad' })).toBe(
      undefined,
    );
    expect(
      refusal({ stream: 's' }, { AWS_ENDPOINT_URL_KINESIS_VIDEO: 'x', AWS_ENDPOINT_URL: 'bad' }),
    ).toMatch(/^AWS_ENDPOINT_URL_KINESIS_VIDEO takes/);
    expect(refusal({ stream: 's' }, { AWS_ENDPOINT_URL: 'bad' })).toMatch(/^AWS_ENDPOINT_URL takes/);
    expect(
      refusal({ stream: 's' }, { AWS_ENDPOINT_URL: 'bad', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' }),
    ).toBe(undefined);
    expect(
      configuredEndpoint({}, { AWS_ENDPOINT_URL_KINESIS_VIDEO: '', AWS_ENDPOINT_URL: 'http://h:1' }),
    ).toEqual({
      url: 'http://h:1',
      name: 'AWS_ENDPOINT_URL',
    });
  });

  it('refuses a region not shaped like one, from the option or AWS_REGION', () => {
    expect(refusal({ stream: 's', region: 'us-gov-west-1' })).toBe(undefined);
    expect(refusal({ stream: 's', region: 'nowhere-1' })).toBe('--region "nowhere-1" is not a region name');
    expect(refusal({ stream: 's' }, { AWS_REGION: 'US East' })).toBe(
      'AWS_REGION "US East" is not a region name',
    );
  });

  it('refuses what CreateStream would: retention, media type, KMS key, tags', () => {
    expect(refusal({ stream: 's', retentionHours: 87_600 })).toBe(undefined);
    expect(refusal({ stream: 's', retentionHours: 87_601 })).toMatch(/to 87600 \(10 years\), not 87601/);
    expect(refusal({ stream: 's', mediaType: 'video/h264,audio/aac' })).toBe(undefined);
    expect(refusal({ stream: 's', mediaType: 'h264' })).toMatch(/^--media-type takes/);
    expect(refusal({ stream: 's', kmsKeyId: '' })).toMatch(/^--kms-key-id takes/);
    expect(refusal({ stream: 's', streamTags: { team: 'video ops', 'cost/centre': '42' } })).toBe(undefined);
    expect(refusal({ stream: 's', streamTags: { 'aws:x': '1' } })).toMatch(/reserved by AWS/);
    expect(refusal({ stream: 's', streamTags: { 'a#b': '1' } })).toMatch(/tag keys are letters/);
    expect(refusal({ stream: 's', streamTags: { k: 'x'.repeat(257) } })).toMatch(/tag values are 0–256/);
    const many = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v']));
    expect(refusal({ stream: 's', streamTags: many })).toBe('a stream takes at most 50 tags, not 51');
  });
});
