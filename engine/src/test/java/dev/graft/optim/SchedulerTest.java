package dev.graft.optim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import org.junit.jupiter.api.Test;

class SchedulerTest {

    @Test
    void stepLR() {
        LrSchedule s = new StepLR(2, 0.1);
        double[] expected = {1, 1, 0.1, 0.1, 0.01, 0.01};
        for (int t = 0; t < expected.length; t++) assertThat(s.lr(1.0, t)).as("t=%d", t).isCloseTo(expected[t], within(1e-15));
        assertThat(s.lr(0.5, 3)).isCloseTo(0.05, within(1e-15));
    }

    @Test
    void cosineAnnealingClosedForm() {
        LrSchedule s = new CosineAnnealingLR(10, 0.001);
        assertThat(s.lr(0.1, 0)).isCloseTo(0.1, within(1e-15));
        assertThat(s.lr(0.1, 5)).isCloseTo(0.001 + 0.099 / 2, within(1e-15));
        // t = 2: cos(π/5) = 0.8090169943749475
        assertThat(s.lr(0.1, 2)).isCloseTo(0.001 + 0.099 * (1 + 0.8090169943749475) / 2, within(1e-15));
        assertThat(s.lr(0.1, 10)).isCloseTo(0.001, within(1e-15));
        assertThat(new CosineAnnealingLR(4).lr(2.0, 1)).isCloseTo(1 + Math.sqrt(0.5), within(1e-15));
    }

    @Test
    void warmupThenAnotherSchedule() {
        LrSchedule s = new CosineAnnealingLR(4).withWarmup(3, 0.25);
        double[] expected = {0.25, 0.5, 0.75, 1.0, (1 + Math.sqrt(0.5)) / 2, 0.5, (1 - Math.sqrt(0.5)) / 2, 0.0};
        for (int t = 0; t < expected.length; t++) assertThat(s.lr(1.0, t)).as("t=%d", t).isCloseTo(expected[t], within(1e-15));
        LrSchedule plain = new LinearWarmup(4, 0.1);
        assertThat(plain.lr(2.0, 0)).isCloseTo(0.2, within(1e-15));
        assertThat(plain.lr(2.0, 2)).isCloseTo(2 * 0.55, within(1e-15));
        assertThat(plain.lr(2.0, 4)).isEqualTo(2.0);
        assertThat(plain.lr(2.0, 100)).isEqualTo(2.0);
    }

    @Test
    void schedulerSetsEachGroupFromItsInitialLr() {
        var a = SGDTest.param(true);
        var b = SGDTest.param(true);
        SGD opt = new SGD(List.of(new ParamGroup(List.of(a)).withLr(0.1), new ParamGroup(List.of(b)).withLr(0.01)), SGD.Options.lr(1));
        Scheduler sched = new Scheduler(opt, new StepLR(2, 0.5).withWarmup(2, 0.5));
        // Construction applies step 0, as a PyTorch scheduler.
        assertThat(sched.currentStep()).isZero();
        assertThat(sched.lastLr()).containsExactly(0.05, 0.005);
        sched.step();
        assertThat(sched.lastLr().get(0)).isCloseTo(0.075, within(1e-15));
        sched.step();
        sched.step();
        assertThat(sched.lastLr()).containsExactly(0.1, 0.01);
        sched.step();
        assertThat(sched.lastLr().get(0)).isCloseTo(0.05, within(1e-15));
        assertThat(opt.paramGroups().get(1).lr()).isCloseTo(0.005, within(1e-15));
        sched.setStep(0);
        assertThat(opt.paramGroups().get(0).lr()).isCloseTo(0.05, within(1e-15));
    }
}
