/**
 * The run configuration in the URL (src/ui/url-config.ts): every field written, round trips
 * (defaults, a custom model, subset limits, the method options), and bad values kept at the
 * fallback with a note; the base URL of dataset hub (hub_url); configProblem says why a configuration cannot be trained.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type RunConfig } from '../../src/train/protocol.ts';
import { DEFAULT_TRAIN_CONFIG } from '../../src/train/trainer.ts';
import { configFromQuery, configProblem, configToQuery } from '../../src/ui/url-config.ts';

const DEFAULTS: RunConfig = { ...DEFAULT_TRAIN_CONFIG, dataset: 'synthetic' };

const custom: RunConfig = {
  ...DEFAULTS, dataset: 'cifar10', model: 'peer', modelOverrides: { dim: 96, depth: 3, heads: 6, patch: 8, mlpDim: 192 },
  method: 'cutmix-token', lr: 5e-4, minLr: 1e-7, warmupEpochs: 0.5, weightDecay: 0.1, epochs: 3, batch: 64,
  mixupAlpha: 0.2, cutmixAlpha: 0.5, mixupSwitchProb: 0.25, smoothing: 0, clip: 1, seed: 42, augment: false, precision: 'f16',
  trainLimit: 5000, testLimit: 1000,
  tokenmixMask: 'random', tokenmixShare: 0.25, tokenmixLoss: 'ce', tokenLabelWeight: 0.5, tokenLabelGtWeight: 0.3,
  diversityCosine: 0, diversityContrastive: 2, diversityMixing: 0.75, diversityWindow: 5,
};

describe('configToQuery', () => {
  test('writes every field in one order, defaults included, limits as "all"', () => {
    assert.equal(configToQuery(DEFAULTS),
      'dataset=synthetic&model=small&method=tl-align&lr=0.001&min_lr=0.00001&warmup=1&wd=0.05&epochs=10&batch=128' +
      '&mixup=0.8&cutmix=1&switch=0&smoothing=0.1&clip=0&seed=0&augment=1&precision=f32&train=all&test=all' +
      '&tokenmix_mask=blocks&tokenmix_share=0.5714285714285714&tokenmix_loss=bce&token_weight=1&token_gt=0' +
      '&div_cosine=1&div_contrastive=1&div_mixing=1&div_window=0');
  });

  test('the method options, written for any method', () => {
    assert.match(configToQuery(custom), /&tokenmix_mask=random&tokenmix_share=0\.25&tokenmix_loss=ce&token_weight=0\.5&token_gt=0\.3&div_cosine=0&div_contrastive=2&div_mixing=0\.75&div_window=5$/);
  });

  test('a custom model: the overrides follow the preset', () => {
    assert.match(configToQuery(custom), /^dataset=cifar10&model=peer&dim=96&depth=3&heads=6&patch=8&mlp=192&method=cutmix-token&lr=0\.0005&min_lr=1e-7&/);
    assert.match(configToQuery({ ...DEFAULTS, modelOverrides: { depth: 2 } }), /&model=small&depth=2&method=/);
  });
});

describe('configFromQuery', () => {
  test('round trips: the defaults, a custom model with limits, each from another fallback', () => {
    for (const [c, fallback] of [[DEFAULTS, custom], [custom, DEFAULTS]] as const) {
      const { config, errors } = configFromQuery(`?${configToQuery(c)}`, fallback);
      assert.deepEqual(errors, []);
      assert.deepEqual(config, c);
    }
  });

  test('an empty query is the fallback; an absent key keeps the fallback\'s value', () => {
    assert.deepEqual(configFromQuery('', custom), { config: custom, errors: [] });
    const { config } = configFromQuery('#lr=0.01&train=100', custom);
    assert.deepEqual(config, { ...custom, lr: 0.01, trainLimit: 100 });
  });

  test('the model is read as a whole: a link naming a preset has only the overrides it lists', () => {
    assert.equal(configFromQuery('model=small', custom).config.modelOverrides, undefined);
    assert.ok(!('modelOverrides' in configFromQuery('model=small', custom).config));
    assert.deepEqual(configFromQuery('model=test&heads=4', custom).config.modelOverrides, { heads: 4 });
  });

  test('bad values keep the fallback, each with a note that names key and problem', () => {
    const { config, errors } = configFromQuery('lr=abc&method=magic&epochs=2.5&augment=yes&dataset=imagenet&batch=0&switch=2&dim=-4&train=0&test=some&smoothing=&model=huge&colour=blue&seed=7', custom);
    assert.deepEqual(errors, [
      'colour: unknown setting (ignored)',
      'dataset: "imagenet" is not a dataset (synthetic, cifar10, file, hub)',
      'model: unknown model preset "huge" (known: test, peer, small, base)',
      'method: unknown method "magic" (known: none, mixup, cutmix, cutmix-token, mixup-cutmix, tl-align, tokenmix, tokenmix-teacher, token-labeling, diversepatch, diversepatch-paper)',
      'lr: "abc" is not a number',
      'epochs: "2.5" is not a whole number',
      'batch: batch must be a positive integer, got 0',
      'switch: mixup switch probability must be in [0, 1], got 2',
      'smoothing: "" is not a number',
      'augment: "yes" is not 1 or 0',
      'train: a subset limit must be a positive integer or "all", got 0',
      'test: "some" is not a number or "all"',
      'dim: model dim must be a positive integer, got -4',
    ]);
    const { modelOverrides: _dropped, ...withoutOverrides } = custom;
    assert.deepEqual(config, { ...withoutOverrides, seed: 7 }, 'only seed changes, and the model keys drop the overrides');
  });

  test('bad method options keep the fallback, each with a note', () => {
    const { config, errors } = configFromQuery(
      'tokenmix_mask=grid&tokenmix_share=1&tokenmix_loss=mse&token_weight=-1&token_gt=2&div_cosine=-0.5&div_contrastive=0.5&div_mixing=x&div_window=4&method=tokenmix', custom);
    assert.deepEqual(errors, [
      'tokenmix_mask: TokenMix mask must be "blocks" or "random", got "grid"',
      'tokenmix_share: TokenMix share must be in (0, 1), got 1',
      'tokenmix_loss: TokenMix loss must be "bce" or "ce", got "mse"',
      'token_weight: tokenLabelWeight must be ≥ 0, got -1',
      'token_gt: Token Labeling ground-truth weight must be in [0, 1], got 2',
      'div_cosine: diversityCosine must be ≥ 0, got -0.5',
      'div_mixing: "x" is not a number',
      'div_window: the DiversePatch window must be an odd number of tokens (or 0 for the default), got 4',
    ]);
    assert.deepEqual(config, { ...custom, method: 'tokenmix', diversityContrastive: 0.5 });
    assert.equal(configFromQuery('div_window=2.5', custom).errors[0], 'div_window: "2.5" is not a whole number');
    const precision = configFromQuery('precision=f8', custom);
    assert.deepEqual(precision.errors, ['precision: precision must be "f32" or "f16", got "f8"']);
    assert.equal(precision.config.precision, 'f16');
  });

  test('hub_url: written right after dataset only when set, read back; a bad one keeps the fallback with a note', () => {
    const mirror: RunConfig = { ...custom, dataset: 'hub', hubUrl: 'http://127.0.0.1:8080/mirror/cifar10/' };
    const query = configToQuery(mirror);
    assert.match(query, /^dataset=hub&hub_url=http%3A%2F%2F127\.0\.0\.1%3A8080%2Fmirror%2Fcifar10%2F&model=peer&/);
    assert.deepEqual(configFromQuery(query, DEFAULTS), { config: mirror, errors: [] });
    assert.doesNotMatch(configToQuery({ ...mirror, hubUrl: undefined }), /hub_url/);
    assert.deepEqual(configFromQuery('dataset=hub', DEFAULTS), { config: { ...DEFAULTS, dataset: 'hub' }, errors: [] });
    assert.deepEqual(configFromQuery('dataset=hub&hub_url=ftp%3A%2F%2Fmirror%2F', mirror), {
      config: mirror, errors: ['hub_url: the CIFAR-10 base URL "ftp://mirror/" is not an http(s) URL'],
    });
    assert.deepEqual(configFromQuery('hub_url=mirror', DEFAULTS).errors, ['hub_url: the CIFAR-10 base URL "mirror" is not a URL (expected e.g. https://huggingface.co/datasets/uoft-cs/cifar10/resolve/main/)']);
  });

  test('each new method is a valid method in a link', () => {
    for (const method of ['tokenmix', 'tokenmix-teacher', 'token-labeling', 'diversepatch', 'diversepatch-paper']) {
      assert.deepEqual(configFromQuery(`method=${method}`, DEFAULTS), { config: { ...DEFAULTS, method }, errors: [] });
    }
  });
});

describe('configProblem', () => {
  test('undefined for a trainable configuration, else the reason', () => {
    assert.equal(configProblem(DEFAULTS), undefined);
    assert.equal(configProblem(custom), undefined);
    assert.equal(configProblem({ ...DEFAULTS, tokenmixShare: 0 }), 'TokenMix share must be in (0, 1), got 0');
    assert.equal(configProblem({ ...DEFAULTS, diversityWindow: 6 }), 'the DiversePatch window must be an odd number of tokens (or 0 for the default), got 6');
    assert.equal(configProblem({ ...DEFAULTS, batch: 0 }), 'batch must be a positive integer, got 0');
    assert.equal(configProblem({ ...DEFAULTS, trainLimit: 1.5 }), 'a subset limit must be a positive integer or "all", got 1.5');
    assert.equal(configProblem({ ...DEFAULTS, dataset: 'hub', hubUrl: '' }), 'the CIFAR-10 base URL "" is not a URL (expected e.g. https://huggingface.co/datasets/uoft-cs/cifar10/resolve/main/)');
    assert.equal(configProblem({ ...DEFAULTS, dataset: 'synthetic', hubUrl: '' }), undefined, 'the base URL matters only for dataset hub');
    assert.equal(configProblem({ ...DEFAULTS, dataset: 'hub', hubUrl: 'https://mirror.example/cifar10' }), undefined);
  });
});
