package dev.graft.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.graft.GraftException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Runs the command line in-process and checks its output and exit codes. */
class MainTest {
    record Result(int code, String out, String err) {}

    static Result run(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int code = Main.run(new PrintWriter(out), new PrintWriter(err), args);
        return new Result(code, out.toString(), err.toString());
    }

    @Test
    void helpListsTheSubcommands() {
        Result r = run("--help");
        assertThat(r.code()).isZero();
        assertThat(r.out()).contains("Usage: graft", "info", "demo", "classify", "forward", "inspect", "convert", "--version", "--debug");
        assertThat(r.err()).isEmpty();
    }

    @Test
    void runningOutOfHeapIsOneLineWithWhatToDo() {
        StringWriter err = new StringWriter();
        int code = Main.onOutOfMemory(new OutOfMemoryError("Java heap space"), new PrintWriter(err, true));
        assertThat(code).isEqualTo(Main.EXIT_ERROR);
        assertThat(err.toString().strip()).doesNotContain("\n", "\tat ")
                .startsWith("graft: out of memory (Java heap space, Java heap limit ")
                .contains("GRAFT_JAVA_OPTS=-Xmx", "--batch");
    }

    @Test
    void noArgumentsPrintsTheUsage() {
        Result r = run();
        assertThat(r.code()).isZero();
        assertThat(r.out()).contains("Usage: graft");
    }

    @Test
    void versionNamesGraftAndJava() {
        Result r = run("--version");
        assertThat(r.code()).isZero();
        assertThat(r.out()).startsWith("graft ").contains("Java " + Runtime.version().feature());
    }

    @Test
    void infoReportsBackendThreadsSimdAndDevices() {
        Result r = run("info");
        assertThat(r.code()).isZero();
        assertThat(r.out()).contains("graft", "java", "cpu backend", "threads", "vector api", "bits",
                "devices", "cuda:N with an NVIDIA driver", "data");
        assertThat(r.err()).isEmpty();
    }

    @Test
    void doctorReportsEveryCudaLibraryAndExitsZero() {
        Result r = run("doctor");
        assertThat(r.code()).isZero();
        assertThat(r.out()).contains("cuda driver", "cuda runtime", "cuda cublas", "cuda cudnn", "ptx kernels", "emulation", "ops run on");
        assertThat(r.out().lines().filter(l -> l.startsWith("cuda ")).toList()).hasSize(4)
                .allSatisfy(l -> assertThat(l).matches("cuda \\w+ +(not found \\(tried .+|lib\\S+\\.so\\.\\d+.*: .+)"));
        assertThat(r.err()).isEmpty();
    }

    @Test
    void badOptionIsOneLineOnStderrWithoutStackTrace() {
        Result r = run("demo", "--no-such-option");
        assertThat(r.code()).isEqualTo(Main.EXIT_USAGE);
        assertThat(r.out()).isEmpty();
        assertThat(r.err().lines().toList()).hasSize(1);
        assertThat(r.err()).startsWith("graft: ").contains("--no-such-option").doesNotContain("\tat ");
    }

    @Test
    void unknownCommandIsAUsageError() {
        Result r = run("frobnicate");
        assertThat(r.code()).isEqualTo(Main.EXIT_USAGE);
        assertThat(r.err().lines().toList()).hasSize(1);
        assertThat(r.err()).startsWith("graft: ").contains("frobnicate");
    }

    @Test
    void invalidValueIsAUsageError() {
        Result r = run("demo", "--epochs", "0");
        assertThat(r.code()).isEqualTo(Main.EXIT_USAGE);
        assertThat(r.err().lines().toList()).hasSize(1);
        assertThat(r.err()).startsWith("graft: --epochs must be at least 1");
    }

    @Test
    void debugShowsTheStackTrace() {
        Result r = run("--debug", "demo", "--batch", "many");
        assertThat(r.code()).isEqualTo(Main.EXIT_USAGE);
        assertThat(r.err()).contains("\tat ").contains("graft: ");
    }

    @Command(name = "fail")
    static final class FailingCommand implements Callable<Integer> {
        @Option(names = "--internal")
        boolean internal;

        @Override
        public Integer call() {
            if (internal) throw new IllegalStateException("invariant broken");
            throw new GraftException("no such file: /tmp/missing.pth\n(second line)");
        }
    }

    static Result runWithFailingCommand(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        CommandLine cl = Main.commandLine().addSubcommand(new FailingCommand());
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new Result(code, out.toString(), err.toString());
    }

    @Test
    void graftExceptionIsOneLineAndExitCodeOne() {
        Result r = runWithFailingCommand("fail");
        assertThat(r.code()).isEqualTo(Main.EXIT_ERROR);
        assertThat(r.err()).isEqualTo("graft: no such file: /tmp/missing.pth; (second line)" + System.lineSeparator());
    }

    @Test
    void graftExceptionWithDebugHasTheStackTrace() {
        Result r = runWithFailingCommand("--debug", "fail");
        assertThat(r.code()).isEqualTo(Main.EXIT_ERROR);
        assertThat(r.err()).contains("GraftException", "\tat ", "graft: no such file");
    }

    @Test
    void internalErrorsSayHowToGetTheStackTrace() {
        Result r = runWithFailingCommand("fail", "--internal");
        assertThat(r.code()).isEqualTo(Main.EXIT_INTERNAL);
        assertThat(r.err().lines().toList()).containsExactly(
                "graft: internal error: IllegalStateException: invariant broken (run with --debug for the stack trace)");
    }

    @Test
    void oneLineJoinsMultiLineMessages() {
        assertThat(Main.oneLine("first\n  second\n\n")).isEqualTo("first; second");
        assertThat(Main.oneLine(null)).isEqualTo("(no message)");
    }

    @Test
    void shortDemoLearnsAndLeavesTheFrozenBackboneUnchanged() {
        Result r = run("demo", "--epochs", "2", "--head-epochs", "1", "--train-size", "512", "--test-size", "128",
                "--batch", "32", "--seed", "7");
        assertThat(r.err()).isEmpty();
        assertThat(r.code()).isZero();
        List<Double> losses = new ArrayList<>();
        Matcher m = Pattern.compile("epoch (\\d+)/2 +loss (\\d+\\.\\d+)").matcher(r.out());
        while (m.find()) losses.add(Double.parseDouble(m.group(2)));
        assertThat(losses).as("phase-1 losses in:%n%s", r.out()).hasSize(2);
        assertThat(losses.get(1)).as("loss of epoch 2 vs epoch 1").isLessThan(losses.get(0));
        assertThat(losses.get(0)).isLessThan(Math.log(OrientedBars.CLASSES)); // better than chance already
        assertThat(r.out()).contains("backbone unchanged");
    }
}
