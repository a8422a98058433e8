#!/usr/bin/env node
/**
 * The `vggc` command line. Parses arguments (commander), calls the library, prints.
 * Every failure leaves as diagnostics on stderr and a non-zero exit code, never a stack trace.
 */
import { Command, CommanderError } from 'commander';
import { formatDiagnostics, VggcError, type SourceFile } from '../dsl/diagnostics.js';
import { readSource } from './source.js';

const program = new Command();
program
  .name('vggc')
  .description(
    'Compile and run VGG-style networks written in the .vgg DSL, on the GPU through WebGPU',
  )
  .exitOverride()
  .showHelpAfterError('(run vggc --help for usage)');

const stdout = (s: string) => process.stdout.write(s + '\n');
const stderr = (s: string) => process.stderr.write(s + '\n');

/** The source file a command is working on, to print diagnostics with their lines. */
let currentFile: string | undefined;
/** Set once a command has touched the GPU, so that it is released and Node can exit. */
let usedGpu = false;

program
  .command('check')
  .description('parse a .vgg file, check every shape, print layers, parameters and MACs')
  .argument('<file>', '.vgg model file')
  .option('--model <name>', 'model to check when the file defines several')
  .option('--input <CxHxW>', "input shape, overriding the model's declared input")
  .option('--json', 'print the summary as JSON')
  .action(async (file: string, flags) => {
    currentFile = file;
    const { runCheck } = await import('./check.js');
    runCheck(file, flags, stdout);
  });

program
  .command('compile')
  .description('emit the WGSL kernels and plan.json of a model, specialised for this GPU')
  .argument('<file>', '.vgg model file')
  .option('--model <name>', 'model to compile when the file defines several')
  .option('--input <CxHxW>', "input shape, overriding the model's declared input")
  .requiredOption('--out <dir>', 'directory for the .wgsl files and plan.json')
  .option('--batch <n>', 'batch size the kernels are specialised on', '1')
  .option('--train', 'compile the training step (forward, backward, SGD update)')
  .option('--no-fuse', 'turn every fusion pass off')
  .option('--fuse <names>', 'run only these fusion passes (comma-separated)')
  .action(async (file: string, flags) => {
    currentFile = file;
    usedGpu = true;
    const { runCompile } = await import('./compile.js');
    await runCompile(file, flags, stdout);
  });

program
  .command('init')
  .description('write initial weights for a model as safetensors (torchvision names)')
  .argument('<file>', '.vgg model file')
  .option('--model <name>', 'model when the file defines several')
  .option(
    '--input <CxHxW>',
    "input shape, overriding the model's declared input (FC sizes follow it)",
  )
  .requiredOption('--out <file>', 'output .safetensors file')
  .option('--seed <n>', 'random seed', '0')
  .option('--scheme <name>', 'paper (normal, std 0.01), glorot or kaiming', 'paper')
  .action(async (file: string, flags) => {
    currentFile = file;
    const { runInit } = await import('./init.js');
    await runInit(file, flags, stdout);
  });

program
  .command('run')
  .description('run the forward pass on a batch of images from a .npy file')
  .argument('<file>', '.vgg model file')
  .option('--model <name>', 'model when the file defines several')
  .requiredOption('--weights <file>', 'weights (.safetensors)')
  .requiredOption('--input <file>', 'images, float32 N x C x H x W (.npy)')
  .requiredOption(
    '--out <file>',
    'output .npy: N x classes logits (with --dense: the class score map)',
  )
  .option('--probs', 'write soft-max posteriors instead of logits')
  .option(
    '--dense',
    'dense evaluation (paper 3.2): FC layers as convolutions, any H x W from the minimum up; ' +
      '--out gets the N x classes x h x w class score map',
  )
  .option('--no-fuse', 'turn every fusion pass off')
  .option('--fuse <names>', 'run only these fusion passes (comma-separated)')
  .action(async (file: string, flags) => {
    currentFile = file;
    usedGpu = true;
    if (flags.dense) {
      const { runDense } = await import('./dense.js');
      await runDense(file, flags, stderr);
      return;
    }
    const { runRun } = await import('./run.js');
    await runRun(file, flags, stderr);
  });

program
  .command('train')
  .description('train a model on the GPU: SGD with momentum, dropout, scale jittering (paper 3.1)')
  .argument('<file>', '.vgg model file')
  .option('--model <name>', 'model when the file defines several')
  .requiredOption('--data <spec>', "'mnist' (the bundled digits) or a folder of images or .npy")
  .requiredOption('--save <file>', 'weights written after every epoch (.safetensors)')
  .option('--weights <file>', 'initial weights (.safetensors)')
  .option('--init-from <file>', "a shallower net's weights: first 4 convs and last 3 FCs (paper)")
  .option('--init <scheme>', 'initialisation: paper (normal, std 0.01), glorot or kaiming', 'paper')
  .option('--epochs <n>', "epochs (default: the model's train { epochs })")
  .option('--steps <n>', 'SGD steps instead of epochs')
  .option('--batch <n>', "batch size (default: the model's train { batch })")
  .option('--lr <x>', 'learning rate')
  .option('--momentum <x>', 'momentum')
  .option('--weight-decay <x>', 'L2 weight decay')
  .option('--dropout <p>', 'probability of every dropout layer (0: none)')
  .option('--augment <mode>', 'paper (rescale, random crop, flip, colour shift) or none', 'paper')
  .option('--no-flip', 'no random horizontal flips (paper augmentation)')
  .option('--no-shuffle', 'take the training images in file order')
  .option('--seed <n>', 'seed of the initialisation, shuffling, augmentation and dropout', '0')
  .option('--lr-schedule <name>', 'paper (/10 when test accuracy stalls), step, cosine, constant')
  .option('--lr-step <n>', "epochs between the step schedule's drops")
  .option('--log <file>', 'metrics log (JSON lines); a chart <log>.svg is drawn next to it')
  .option('--resume', 'continue from the checkpoint next to --save')
  .option(
    '--test-fraction <f>',
    'a folder without test/: share of each class held out for testing (default 0.2; 0: none)',
  )
  .option('--no-fuse', 'turn every fusion pass off')
  .option('--fuse <names>', 'run only these fusion passes (comma-separated)')
  .action(async (file: string, flags) => {
    currentFile = file;
    usedGpu = true;
    const { runTrain } = await import('./train.js');
    await runTrain(file, flags, stdout, stderr);
  });

/** Options of the paper's test-time evaluation, shared by `eval` and `classify`. */
const testOptions = (cmd: Command) =>
  cmd
    .option('--model <name>', 'model when the file defines several')
    .requiredOption('--weights <file>', 'weights (.safetensors)')
    .option(
      '--scales <list>',
      "test scales Q, the smallest image side (default: the model's test { scales }, else " +
        'from its train scale: S-32,S,S+32 or Smin,(Smin+Smax)/2,Smax)',
    )
    .option('--flip', "average with horizontal flips (default: the model's test { flip })")
    .option('--no-flip', 'no horizontal flips')
    .option('--multi-crop', 'add 5x5 crops (x2 flips) per scale, averaged with dense evaluation')
    .option('--no-dense', 'with --multi-crop: multi-crop evaluation alone')
    .option('--mean <list>', "per-channel mean to subtract (default: the weights' metadata)")
    .option('--no-fuse', 'turn every fusion pass off')
    .option('--fuse <names>', 'run only these fusion passes (comma-separated)');

testOptions(
  program
    .command('eval')
    .description(
      "top-1/top-5 error on a dataset's test split by dense multi-scale evaluation (paper 3.2)",
    )
    .argument('<file>', '.vgg model file'),
)
  .requiredOption('--data <spec>', "'mnist' (bundled digits) or a folder of images or .npy")
  .option('--limit <n>', 'evaluate only the first n test images')
  .option(
    '--test-fraction <f>',
    'a folder without test/: share of each class held out for testing, as in train (default 0.2)',
  )
  .option('--batch <n>', 'images per batch', '8')
  .option('--json', 'print {"images", "top1_error", "top5_error", "per_scale"} as JSON')
  .action(async (file: string, flags) => {
    currentFile = file;
    usedGpu = true;
    const { runEval } = await import('./eval.js');
    await runEval(file, flags, stdout, stderr);
  });

testOptions(
  program
    .command('classify')
    .description('print the five most probable classes of each image (JPEG/PNG)')
    .argument('<file>', '.vgg model file')
    .argument('<images...>', 'image files'),
)
  .option('--labels <file>', 'class names, one per line')
  .action(async (file: string, images: string[], flags) => {
    currentFile = file;
    usedGpu = true;
    const { runClassify } = await import('./classify.js');
    await runClassify(file, images, flags, stdout, stderr);
  });

function report(e: unknown): number {
  if (e instanceof CommanderError) {
    // commander already printed its message (unknown option, missing argument, help).
    return e.exitCode === 0 ? 0 : 2;
  }
  if (e instanceof VggcError) {
    let source: SourceFile | undefined;
    if (currentFile) {
      try {
        source = readSource(currentFile);
      } catch {
        source = undefined;
      }
    }
    process.stderr.write(formatDiagnostics(e.diagnostics, source) + '\n');
    return 1;
  }
  const err = e as Error;
  process.stderr.write(`vggc: internal error: ${err?.message ?? String(e)}\n`);
  if (process.env.VGGC_DEBUG) process.stderr.write(`${err?.stack}\n`);
  return 70;
}

try {
  await program.parseAsync(process.argv);
  process.exitCode = 0;
} catch (e) {
  process.exitCode = report(e);
} finally {
  if (usedGpu) {
    const { releaseGpu } = await import('../runtime/device.js');
    await releaseGpu();
  }
}
