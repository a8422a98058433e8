#!/usr/bin/env node
/**
 * The `vggc` command line. Parses arguments (commander), calls the library, prints.
 * Every failure leaves as diagnostics on stderr and a non-zero exit code, never a stack trace.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { formatDiagnostics, VggcError, type SourceFile } from '../dsl/diagnostics.js';
import { CONV_MODES } from '../compiler/algorithms.js';
import { INIT_SCHEMES } from '../runtime/init.js';
import { POSITIVE_INT, SEED } from '../runtime/settings.js';
import { TEST_DEFAULTS, TEST_RULES } from '../runtime/test-plan.js';
import { AUGMENT_MODES, TRAIN_DEFAULTS, TRAIN_RULES } from '../runtime/train/config.js';
import { SCHEDULES } from '../runtime/train/lr-schedule.js';
import { choiceOption, convPairOption, numberListOption, numberOption } from './args.js';
import { TEST_FRACTION_RULE } from './common.js';
import { readSource } from './source.js';

const { version } = JSON.parse(
  readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
) as { version: string };

const program = new Command();
program
  .name('vggc')
  .description(
    'Compile and run VGG-style networks written in the .vgg DSL, on the GPU through WebGPU',
  )
  .version(version, '-V, --version', 'print the version')
  .exitOverride()
  .showHelpAfterError('(run vggc --help for usage)');

const stdout = (s: string) => process.stdout.write(s + '\n');
const stderr = (s: string) => process.stderr.write(s + '\n');

/** The source file a command is working on, to print diagnostics with their lines. */
let currentFile: string | undefined;
/** Set once a command has touched the GPU, so that it is released and Node can exit. */
let usedGpu = false;

/**
 * Required options are checked after commander has refused unknown options and missing
 * arguments (commander's own `requiredOption` is checked first, so `run m.vgg --bogus` would
 * complain about --weights instead of --bogus).
 */
const REQUIRED = new WeakSet<Option>();
function required(flags: string, description: string): Option {
  const o = new Option(flags, `${description} (required)`);
  REQUIRED.add(o);
  return o;
}
program.hook('preAction', (_, action) => {
  for (const o of action.options) {
    if (REQUIRED.has(o) && action.getOptionValue(o.attributeName()) === undefined) {
      action.error(`error: required option '${o.flags}' not specified`);
    }
  }
});

const seedOption = (what: string) =>
  numberOption('--seed <n>', `${what} (default: ${TRAIN_DEFAULTS.seed})`, SEED);
const initSchemeOption = (flags: string) =>
  choiceOption(
    flags,
    `initialisation: paper (normal, std 0.01), glorot or kaiming (default: ${TRAIN_DEFAULTS.init})`,
    INIT_SCHEMES,
  );
const CONV_HELP =
  'convolution algorithms: direct, winograd (where it applies) or auto (the tuning cache, else a rule; default)';
/** The fusion flags of `vggc bench`, whose `--conv` takes one mode or a pair to compare. */
const benchFuseOptions = (cmd: Command) =>
  cmd
    .option('--no-fuse', 'turn every fusion pass off')
    .option('--fuse <names>', 'run only these fusion passes (comma-separated)')
    .addOption(
      convPairOption(
        '--conv <modes>',
        `${CONV_HELP}; two, comma-separated (direct,auto), compares them instead of fused against unfused`,
        CONV_MODES,
      ),
    );
/** The fusion flags and `--conv` of every command that compiles kernels. */
const fuseOptions = (cmd: Command) =>
  cmd
    .option('--no-fuse', 'turn every fusion pass off')
    .option('--fuse <names>', 'run only these fusion passes (comma-separated)')
    .addOption(choiceOption('--conv <mode>', CONV_HELP, CONV_MODES));

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

fuseOptions(
  program
    .command('compile')
    .description('emit the WGSL kernels and plan.json of a model, specialised for this GPU')
    .argument('<file>', '.vgg model file')
    .option('--model <name>', 'model to compile when the file defines several')
    .option('--input <CxHxW>', "input shape, overriding the model's declared input")
    .addOption(
      required('--out <dir>', "directory for the .wgsl files and plan.json (new, empty or vggc's)"),
    )
    .option('--force', 'write into a non-empty directory vggc did not write (nothing is removed)')
    .addOption(
      numberOption(
        '--batch <n>',
        'batch size the kernels are specialised on (default: 1)',
        TRAIN_RULES.batch,
      ),
    )
    .option('--train', 'compile the training step (forward, backward, SGD update)')
    .option(
      '--dump-passes <dir>',
      "write the graph after each pass, one numbered text file each (new, empty or vggc's)",
    ),
).action(async (file: string, flags) => {
  currentFile = file;
  usedGpu = true;
  const { runCompile } = await import('./compile.js');
  await runCompile(file, flags, stdout, stderr);
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
  .addOption(required('--out <file>', 'output .safetensors file'))
  .addOption(seedOption('random seed'))
  .addOption(initSchemeOption('--scheme <name>'))
  .action(async (file: string, flags) => {
    currentFile = file;
    const { runInit } = await import('./init.js');
    await runInit(file, flags, stdout);
  });

fuseOptions(
  program
    .command('run')
    .description('run the forward pass on a batch of images from a .npy file')
    .argument('<file>', '.vgg model file')
    .option('--model <name>', 'model when the file defines several')
    .addOption(required('--weights <file>', 'weights (.safetensors)'))
    .addOption(required('--input <file>', 'images, float32 N x C x H x W (.npy)'))
    .addOption(
      required(
        '--out <file>',
        'output .npy: N x classes logits (with --dense: the class score map)',
      ),
    )
    .option('--probs', 'write soft-max posteriors instead of logits')
    .option(
      '--dense',
      'dense evaluation (paper 3.2): FC layers as convolutions, any H x W from the minimum up; ' +
        '--out gets the N x classes x h x w class score map',
    ),
).action(async (file: string, flags) => {
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

const d = TRAIN_DEFAULTS;
fuseOptions(
  program
    .command('train')
    .description(
      'train a model on the GPU: SGD with momentum, dropout, scale jittering (paper 3.1)',
    )
    .argument('<file>', '.vgg model file')
    .option('--model <name>', 'model when the file defines several')
    .addOption(
      required('--data <spec>', "'mnist' (the bundled digits) or a folder of images or .npy"),
    )
    .addOption(
      required(
        '--save <file>',
        'weights written after every epoch (.safetensors); the checkpoint goes next to it ' +
          '(w.safetensors: w.ckpt.safetensors; foo.st: foo.st.ckpt.safetensors)',
      ),
    )
    .option('--weights <file>', 'initial weights (.safetensors)')
    .option('--init-from <file>', "a shallower net's weights: first 4 convs and last 3 FCs (paper)")
    .addOption(initSchemeOption('--init <scheme>'))
    .addOption(
      numberOption(
        '--epochs <n>',
        `epochs (default: the model's train { epochs }, else ${d.epochs})`,
        TRAIN_RULES.epochs,
      ),
    )
    .addOption(numberOption('--steps <n>', 'SGD steps instead of epochs', TRAIN_RULES.steps))
    .addOption(
      numberOption(
        '--batch <n>',
        `batch size (default: the model's train { batch }, else ${d.batch})`,
        TRAIN_RULES.batch,
      ),
    )
    .addOption(
      numberOption(
        '--lr <x>',
        `learning rate (default: train { lr }, else ${d.lr})`,
        TRAIN_RULES.lr,
      ),
    )
    .addOption(
      numberOption(
        '--momentum <x>',
        `momentum (default: train { momentum }, else ${d.momentum})`,
        TRAIN_RULES.momentum,
      ),
    )
    .addOption(
      numberOption(
        '--weight-decay <x>',
        `L2 weight decay (default: train { weight-decay }, else ${d.weightDecay})`,
        TRAIN_RULES.weightDecay,
      ),
    )
    .addOption(
      numberOption(
        '--dropout <p>',
        'probability of every dropout layer (0: none; default: as the model declares)',
        TRAIN_RULES.dropout,
      ),
    )
    .addOption(
      choiceOption(
        '--augment <mode>',
        `paper (rescale, random crop, flip, colour shift) or none (default: ${d.augment})`,
        AUGMENT_MODES,
      ),
    )
    .option('--no-flip', 'no random horizontal flips (paper augmentation)')
    .option('--no-shuffle', 'take the training images in file order')
    .addOption(seedOption('seed of the initialisation, shuffling, augmentation and dropout'))
    .addOption(
      choiceOption(
        '--lr-schedule <name>',
        `paper (/10 when test accuracy stalls), step, cosine, constant (default: ${d.schedule})`,
        SCHEDULES,
      ),
    )
    .addOption(
      numberOption(
        '--lr-step <n>',
        "epochs between the step schedule's drops",
        TRAIN_RULES.stepEpochs,
      ),
    )
    .option('--log <file>', 'metrics log (JSON lines); a chart <log>.svg is drawn next to it')
    .option('--resume', 'continue from the checkpoint next to --save')
    .addOption(
      numberOption(
        '--test-fraction <f>',
        'a folder without test/: share of each class held out for testing (default 0.2; 0: none)',
        TEST_FRACTION_RULE,
      ),
    ),
).action(async (file: string, flags) => {
  currentFile = file;
  usedGpu = true;
  const { runTrain } = await import('./train.js');
  await runTrain(file, flags, stdout, stderr);
});

program
  .command('import')
  .description('translate a VGG-style ONNX model into a .vgg file and safetensors weights')
  .argument('<model>', '.onnx file (opsets 7 to 18)')
  .addOption(required('--out <file>', '.vgg file to write'))
  .addOption(required('--weights <file>', 'safetensors file to write (torchvision names)'))
  .option('--name <name>', 'model name in the .vgg file (default: from --out)')
  .option('--input <CxHxW>', 'image shape, for models with a dynamic height or width')
  .action(async (file: string, flags) => {
    const { runImport } = await import('./import.js');
    await runImport(file, flags, stdout);
  });

program
  .command('export')
  .description('write a model and its weights as an ONNX file')
  .argument('<file>', '.vgg model file')
  .option('--model <name>', 'model when the file defines several')
  .addOption(required('--weights <file>', 'weights (.safetensors)'))
  .option(
    '--input <CxHxW>',
    "input shape, overriding the model's declared input (FC sizes follow it)",
  )
  .addOption(required('--out <file>', '.onnx file to write'))
  .option('--dense', 'the fully convolutional form (FC layers as convs), dynamic height and width')
  .addOption(
    numberOption('--opset <n>', 'ONNX opset, 7 to 18 (default 13)', {
      integer: true,
      min: 7,
      max: 18,
      want: 'an integer from 7 to 18',
    }),
  )
  .action(async (file: string, flags) => {
    currentFile = file;
    const { runExport } = await import('./export.js');
    await runExport(file, flags, stdout);
  });

/** Options of the paper's test-time evaluation, shared by `eval` and `classify`. */
const testOptions = (cmd: Command) =>
  fuseOptions(
    cmd
      .option('--model <name>', 'model when the file defines several')
      .addOption(required('--weights <file>', 'weights (.safetensors)'))
      .addOption(
        numberListOption(
          '--scales <list>',
          "test scales Q, the smallest image side (default: the model's test { scales }, else " +
            'from its train scale: S-32,S,S+32 or Smin,(Smin+Smax)/2,Smax, never below the input size)',
          TEST_RULES.scale,
          'positive integers separated by commas',
          '256,384,512',
        ),
      )
      .option('--flip', "average with horizontal flips (default: the model's test { flip })")
      .option('--no-flip', 'no horizontal flips')
      .option('--multi-crop', 'add 5x5 crops (x2 flips) per scale, averaged with dense evaluation')
      .option('--no-dense', 'with --multi-crop: multi-crop evaluation alone')
      .addOption(
        numberListOption(
          '--mean <list>',
          "per-channel mean to subtract (default: the weights' metadata)",
          TEST_RULES.mean,
          'a list of numbers, one per channel',
          '0.485,0.456,0.406',
        ),
      ),
  );

testOptions(
  program
    .command('eval')
    .description(
      "top-1/top-5 error on a dataset's test split by dense multi-scale evaluation (paper 3.2)",
    )
    .argument('<file>', '.vgg model file'),
)
  .addOption(required('--data <spec>', "'mnist' (bundled digits) or a folder of images or .npy"))
  .addOption(numberOption('--limit <n>', 'evaluate only the first n test images', TEST_RULES.limit))
  .addOption(
    numberOption(
      '--test-fraction <f>',
      'a folder without test/: share of each class held out for testing, as in train (default 0.2)',
      TEST_FRACTION_RULE,
    ),
  )
  .addOption(
    numberOption(
      '--batch <n>',
      `images per batch (default: ${TEST_DEFAULTS.batch})`,
      TEST_RULES.batch,
    ),
  )
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

benchFuseOptions(
  program
    .command('bench')
    .description(
      'benchmark a model on this GPU, fused against unfused kernels: wall and GPU time, per kernel',
    )
    .argument('<file>', '.vgg model file')
    .option('--model <name>', 'model when the file defines several')
    .option('--input <CxHxW>', "input shape, overriding the model's declared input")
    .addOption(numberOption('--batch <n>', 'images per run (default: 1)', POSITIVE_INT))
    .option('--train', 'time training steps too (forward, backward, SGD update)')
    .addOption(
      numberListOption(
        '--dense <list>',
        'time dense evaluation (FC layers as convolutions) on Q x Q images at each size',
        TEST_RULES.scale,
        'positive integers separated by commas',
        '256,384',
      ),
    )
    .addOption(numberOption('--runs <n>', 'timed runs per plan (default: 5)', POSITIVE_INT))
    .option('--weights <file>', 'weights (.safetensors; default: random, Kaiming)')
    .option('--json', 'print the figures as one JSON object (adapter, version, date, every run)')
    .option('--chart <file>', 'write the per-kernel fused vs unfused bar chart (.svg)'),
).action(async (file: string, flags) => {
  currentFile = file;
  usedGpu = true;
  const { runBench } = await import('./bench.js');
  await runBench(file, flags, version, stdout, stderr);
});

program
  .command('tune')
  .description(
    "time each layer's candidate algorithms on this GPU and store the winners in the tuning cache",
  )
  .argument('<file>', '.vgg model file')
  .option('--model <name>', 'model when the file defines several')
  .option('--input <CxHxW>', "input shape, overriding the model's declared input")
  .addOption(
    numberOption('--batch <n>', 'batch size the layers are tuned at (default: 1)', POSITIVE_INT),
  )
  .option('--train', "tune the training step's layers too (forward and backward)")
  .addOption(
    choiceOption(
      '--conv <mode>',
      'algorithms to time besides direct: auto (all, default), winograd, or direct (its tiles only)',
      CONV_MODES,
    ),
  )
  .addOption(
    numberOption('--runs <n>', 'profiles per candidate, median (default: 3)', POSITIVE_INT),
  )
  .option(
    '--cache <file>',
    'tuning cache to merge the winners into (default: $XDG_CACHE_HOME/vggc/tuning.json, else ~/.cache/vggc/tuning.json)',
  )
  .option('--json', "print every candidate's time as one JSON object")
  .action(async (file: string, flags) => {
    currentFile = file;
    usedGpu = true;
    const { runTune } = await import('./tune.js');
    await runTune(file, flags, stdout, stderr);
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
