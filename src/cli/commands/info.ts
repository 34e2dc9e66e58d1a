/** `backdoor-scan info MODEL`: what the model is, as the scanner sees it. */
import { openModel } from '../../engine/session';
import { CliIo } from '../io';
import { COMPUTE_OPTIONS, DATA_OPTIONS, outputFormat, parse, requireOne, str } from '../args';
import { fields, int } from '../text';

export const INFO_USAGE = `backdoor-scan info MODEL [--arch A] [--format text|json]
  Layers, parameters, input shape, BatchNorm layers and the default split point of a model.`;

export async function infoCommand(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(argv, { ...COMPUTE_OPTIONS, arch: DATA_OPTIONS.arch });
  if (values.help) {
    io.stdout.write(`${INFO_USAGE}\n`);
    return 0;
  }
  const format = outputFormat(values, ['text', 'json'] as const);
  const modelPath = requireOne(positionals, 'model file');
  const model = await openModel(modelPath, { arch: str(values, 'arch') });
  const s = model.summary;
  if (format === 'json') {
    io.stdout.write(
      `${JSON.stringify({ path: modelPath, format: model.loaded.format, sha256: model.sha256, classes: model.classes, notes: model.loaded.notes, ...s }, null, 2)}\n`,
    );
    return 0;
  }
  const lines = [
    fields([
      ['Model', `${modelPath} (${model.loaded.format})`],
      ['Input', `[${s.inputShape.join(', ')}] (height, width, channels)`],
      ['Classes', `${s.numClasses}: ${model.classes.join(', ')}`],
      ['Parameters', int(s.parameters)],
      ['Layers', String(s.layers.length)],
      ['BatchNorm', `${s.batchNormLayers.length} layers, ${int(s.batchNormChannels)} channels`],
      ['Split point', s.splitPoint ? `${s.splitPoint} [${s.splitPointShape?.join(', ')}]` : `none (${s.splitPointError})`],
      ['Output', s.outputSoftmax ? 'softmax (removed; the scanner reads logits)' : 'logits'],
    ]),
    ...model.loaded.notes.map((n) => `Note: ${n}`),
    '',
    ...s.layers.map((l) => `  ${l.name.padEnd(28)} ${l.kind.padEnd(16)} [${l.outputShape.join(', ')}]${l.params ? `  ${int(l.params)} params` : ''}`),
  ];
  io.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
