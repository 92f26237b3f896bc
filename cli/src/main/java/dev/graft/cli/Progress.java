package dev.graft.cli;

import dev.graft.train.FineTuner;
import java.io.PrintWriter;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * Training progress on stderr: with bars, one bar per epoch (ETA, running loss and accuracy) that
 * is replaced by a summary line when the epoch ends; without, only the summary lines.
 */
final class Progress implements AutoCloseable {
    private final PrintWriter err;
    private final boolean bars;
    private ProgressBar bar;
    private String barKey;
    private int epochs = 1;

    Progress(PrintWriter err, boolean bars) {
        this.err = err;
        this.bars = bars;
    }

    void phase(String phase, int epochs, int batches) {
        this.epochs = Math.max(1, epochs);
        closeBar();
        err.printf("phase %s: %d epoch(s) of %d batches%n", phase, epochs, batches);
        err.flush();
    }

    void batch(String phase, int epoch, int batch, int batches, double loss, double acc) {
        if (!bars) return;
        String key = phase + "/" + epoch;
        if (!key.equals(barKey)) {
            closeBar();
            barKey = key;
            err.flush();
            bar = new ProgressBarBuilder()
                    .setTaskName(phase.startsWith("features") ? phase : phase + " " + epoch + "/" + epochs)
                    .setInitialMax(batches)
                    .setStyle(ProgressBarStyle.ASCII)
                    .setUpdateIntervalMillis(250)
                    .setConsumer(new ConsoleProgressBarConsumer(System.err))
                    .build();
        }
        bar.stepTo(batch);
        if (!phase.startsWith("features")) bar.setExtraMessage(String.format(" loss %.4f acc %.3f", loss, acc));
    }

    void epoch(FineTuner.EpochMetrics m) {
        closeBar();
        err.printf("%-8s %3d/%-3d train loss %.4f acc %.4f | val loss %.4f acc %.4f | %.1f s%n", m.phase(), m.epoch(), m.epochs(),
                m.trainLoss(), m.trainAcc(), m.valLoss(), m.valAcc(), m.seconds());
        err.flush();
    }

    void message(String line) {
        closeBar();
        err.println(line);
        err.flush();
    }

    private void closeBar() {
        if (bar != null) {
            bar.close();
            bar = null;
            barKey = null;
        }
    }

    @Override
    public void close() {
        closeBar();
    }
}
