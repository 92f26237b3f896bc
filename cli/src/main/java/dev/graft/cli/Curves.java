package dev.graft.cli;

import dev.graft.GraftException;
import dev.graft.train.FineTuner;
import dev.graft.io.AtomicFiles;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.CombinedDomainXYPlot;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/** {@code curves.png}: loss and accuracy per epoch of both phases, drawn with JFreeChart. */
final class Curves {
    private Curves() {}

    static void write(Path png, List<FineTuner.EpochMetrics> history, String title) {
        XYSeriesCollection loss = new XYSeriesCollection(), acc = new XYSeriesCollection();
        for (String phase : List.of("head", "finetune")) {
            XYSeries tl = new XYSeries(phase + " train"), vl = new XYSeries(phase + " val");
            XYSeries ta = new XYSeries(phase + " train"), va = new XYSeries(phase + " val");
            int x = 0;
            for (FineTuner.EpochMetrics m : history) {
                x++;
                if (!m.phase().equals(phase)) continue;
                tl.add(x, m.trainLoss());
                vl.add(x, m.valLoss());
                ta.add(x, m.trainAcc());
                va.add(x, m.valAcc());
            }
            if (tl.isEmpty()) continue;
            loss.addSeries(tl);
            loss.addSeries(vl);
            acc.addSeries(ta);
            acc.addSeries(va);
        }
        NumberAxis epoch = new NumberAxis("epoch (both phases)");
        epoch.setStandardTickUnits(NumberAxis.createIntegerTickUnits());
        CombinedDomainXYPlot plot = new CombinedDomainXYPlot(epoch);
        plot.add(new XYPlot(loss, null, new NumberAxis("loss"), new XYLineAndShapeRenderer(true, true)));
        NumberAxis accAxis = new NumberAxis("accuracy");
        accAxis.setAutoRangeIncludesZero(false);
        plot.add(new XYPlot(acc, null, accAxis, new XYLineAndShapeRenderer(true, true)));
        JFreeChart chart = new JFreeChart(title, JFreeChart.DEFAULT_TITLE_FONT, plot, true);
        try {
            AtomicFiles.write(png, out -> ChartUtils.writeChartAsPNG(out, chart, 900, 700));
        } catch (IOException e) {
            throw new GraftException("cannot write " + png + ": " + e.getMessage());
        }
    }
}
