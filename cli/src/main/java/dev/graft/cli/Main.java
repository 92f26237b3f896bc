package dev.graft.cli;

import dev.graft.GraftException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.ScopeType;

/**
 * The {@code graft} command. User errors ({@link GraftException}, bad arguments) print one line,
 * {@code graft: <message>}, to stderr and exit non-zero; {@code --debug} adds the stack trace.
 */
@Command(name = "graft",
        mixinStandardHelpOptions = true,
        versionProvider = GraftVersion.class,
        description = "Graft: transfer learning of ImageNet CNNs in pure Java.",
        subcommands = {FinetuneCommand.class, PredictCommand.class, EvaluateCommand.class, ClassifyCommand.class,
                ForwardCommand.class, InspectCommand.class, ConvertCommand.class, BenchCommand.class, InfoCommand.class, DoctorCommand.class, DemoCommand.class,
                CommandLine.HelpCommand.class},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:success", "1:error (bad input, missing file, ...)", "2:invalid command line",
                "3:internal error (a bug: please report it with the --debug output)"})
public final class Main implements Runnable {
    static final int EXIT_ERROR = 1;
    static final int EXIT_USAGE = 2;
    static final int EXIT_INTERNAL = 3;

    @Option(names = "--debug", scope = ScopeType.INHERIT, description = "Print stack traces of errors.")
    boolean debug;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** Without a subcommand: the usage help. */
    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    public static void main(String[] args) {
        PrintWriter out = new PrintWriter(System.out, true, StandardCharsets.UTF_8);
        PrintWriter err = new PrintWriter(System.err, true, StandardCharsets.UTF_8);
        int code = run(out, err, args);
        out.flush();
        err.flush();
        System.exit(code);
    }

    /** Runs the command line with the given streams and returns the exit code (for tests too). */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        CommandLine cl = commandLine();
        cl.setOut(out);
        cl.setErr(err);
        try {
            return cl.execute(args);
        } catch (OutOfMemoryError e) {
            return onOutOfMemory(e, err);
        } finally {
            out.flush();
            err.flush();
        }
    }

    static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setParameterExceptionHandler(Main::onBadArguments);
        cl.setExecutionExceptionHandler(Main::onError);
        return cl;
    }

    private static int onBadArguments(ParameterException e, String[] args) {
        CommandLine cl = e.getCommandLine();
        PrintWriter err = cl.getErr();
        if (debugRequested(args)) e.printStackTrace(err);
        String help = cl.getCommandSpec().qualifiedName() + " --help";
        err.println("graft: " + oneLine(e.getMessage()) + " (see '" + help + "')");
        return EXIT_USAGE;
    }

    private static int onError(Exception e, CommandLine cl, ParseResult parsed) {
        PrintWriter err = cl.getErr();
        boolean debug = debugRequested(parsed.originalArgs().toArray(String[]::new));
        if (debug) e.printStackTrace(err);
        if (e instanceof GraftException || e instanceof ParameterException) {
            err.println("graft: " + oneLine(e.getMessage()));
            return e instanceof ParameterException ? EXIT_USAGE : EXIT_ERROR;
        }
        String what = e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + oneLine(e.getMessage()));
        err.println("graft: internal error: " + what + (debug ? "" : " (run with --debug for the stack trace)"));
        return EXIT_INTERNAL;
    }

    /** The JVM ran out of heap: one line that says how much there was and what to do, no stack trace. */
    static int onOutOfMemory(OutOfMemoryError e, PrintWriter err) {
        long maxMb = Runtime.getRuntime().maxMemory() >> 20;
        err.println("graft: out of memory (" + oneLine(e.getMessage()) + ", Java heap limit " + maxMb
                + " MB): give the JVM more, e.g. GRAFT_JAVA_OPTS=-Xmx" + Math.max(2, 2 * maxMb / 1024) + "g, or use a smaller --batch");
        return EXIT_ERROR;
    }

    /** --debug anywhere on the command line (also before a parse error is found). */
    private static boolean debugRequested(String[] args) {
        for (String a : args) {
            if (a.equals("--")) return false;
            if (a.equals("--debug")) return true;
        }
        return false;
    }

    /** Messages are printed on one line: lines joined with "; ". */
    static String oneLine(String message) {
        if (message == null || message.isBlank()) return "(no message)";
        return String.join("; ", message.strip().lines().map(String::strip).filter(s -> !s.isEmpty()).toList());
    }
}
