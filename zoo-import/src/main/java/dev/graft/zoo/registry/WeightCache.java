package dev.graft.zoo.registry;

import dev.graft.GraftException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.channels.UnresolvedAddressException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * The local store of downloaded weights, {@code ~/.cache/graft} unless the system property
 * {@code graft.cache} or the environment variable {@code GRAFT_CACHE} names another folder. A known
 * file lives at {@code CACHE/<source>/<file name>}, e.g. {@code ~/.cache/graft/torchvision/resnet18-f37072fd.pth}.
 *
 * <p>A download goes to a temporary file in the same folder while its SHA-256 is computed; only a
 * file whose digest matches the registry's (all 64 digits, or the recorded prefix) is renamed,
 * atomically, to its final name, so a file found in the cache is always a verified one and
 * concurrent or interrupted downloads never leave a partial file under the final name. Anything
 * that goes wrong raises a {@link DownloadException} naming the URL and the {@code --weights FILE}
 * way around it.
 *
 * <p>Progress is drawn on stderr only when {@link Progress#AUTO} finds an interactive terminal
 * ({@link java.io.Console#isTerminal()}), or when asked with {@link Progress#ALWAYS}.
 */
public final class WeightCache {
    /** When to draw a progress bar on stderr. */
    public enum Progress {
        /** Only when the JVM is attached to an interactive terminal. */
        AUTO,
        /** Always. */
        ALWAYS,
        /** Never. */
        NEVER
    }

    /** How long to wait for a connection. */
    public static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(20);

    private final Path dir;
    private final Progress progress;
    private final Duration readTimeout;

    /**
     * @param dir         the cache folder (created when first needed)
     * @param progress    when to draw a progress bar
     * @param readTimeout how long to wait for the response headers, and the longest the body may
     *                    stall (no byte received) before the download is abandoned
     */
    public WeightCache(Path dir, Progress progress, Duration readTimeout) {
        this.dir = Objects.requireNonNull(dir, "dir").toAbsolutePath().normalize();
        this.progress = Objects.requireNonNull(progress, "progress");
        this.readTimeout = Objects.requireNonNull(readTimeout, "readTimeout");
        if (readTimeout.isNegative() || readTimeout.isZero()) throw new GraftException("download read timeout must be positive, got " + readTimeout);
    }

    /** A cache in {@link #defaultDir()} with an automatic progress bar. */
    public static WeightCache defaults() {
        return new WeightCache(defaultDir(), Progress.AUTO, Duration.ofSeconds(60));
    }

    /** {@code -Dgraft.cache}, else {@code $GRAFT_CACHE}, else {@code ~/.cache/graft}. */
    public static Path defaultDir() {
        String p = System.getProperty("graft.cache");
        if (p == null || p.isBlank()) p = System.getenv("GRAFT_CACHE");
        if (p != null && !p.isBlank()) return Path.of(p);
        return Path.of(System.getProperty("user.home"), ".cache", "graft");
    }

    public Path dir() {
        return dir;
    }

    /** Where a known file is (or will be) cached. */
    public Path cachedPath(KnownWeights w) {
        return dir.resolve(w.source()).resolve(w.fileName());
    }

    /**
     * A weight file from what the user typed: an existing file's path is returned as is; a known id
     * ({@code torchvision:resnet18}) is fetched into the cache if needed. Anything else fails with
     * one line.
     */
    public Path resolve(String idOrPath) {
        Objects.requireNonNull(idOrPath, "idOrPath");
        Path asPath = null;
        try {
            asPath = Path.of(idOrPath);
        } catch (java.nio.file.InvalidPathException ignored) {
            // not a path on this system; maybe an id
        }
        if (asPath != null && Files.isRegularFile(asPath)) return asPath;
        var known = KnownWeights.find(idOrPath);
        if (known.isPresent()) return fetch(known.get());
        if (KnownWeights.looksLikeId(idOrPath))
            throw new GraftException("unknown weights '" + idOrPath + "'; known: " + String.join(", ", KnownWeights.ids()));
        if (asPath != null && Files.isDirectory(asPath)) throw new GraftException("weights " + idOrPath + " is a folder, not a file");
        throw new GraftException("weights " + idOrPath + ": no such file, and not a known id (" + String.join(", ", KnownWeights.ids()) + ")");
    }

    /** The cached file of {@code w}, downloaded and verified first if it is not in the cache. */
    public Path fetch(KnownWeights w) {
        Path target = cachedPath(w);
        if (Files.isRegularFile(target)) {
            try {
                if (w.size() < 0 || Files.size(target) == w.size()) return target;
            } catch (IOException e) {
                throw new GraftException("cannot read cached weights " + target + ": " + e.getMessage(), e);
            }
            // A file of the wrong size was put there by hand or by an older registry: fetch again.
        }
        return download(w, target);
    }

    private Path download(KnownWeights w, Path target) {
        String hint = "; download it yourself and pass it with --weights FILE";
        try {
            Files.createDirectories(target.getParent());
        } catch (IOException e) {
            throw new DownloadException("cannot create the weight cache folder " + target.getParent() + ": " + e.getMessage()
                    + " (set -Dgraft.cache or GRAFT_CACHE to another folder)", e);
        }
        Path part = null;
        AtomicLong lastProgress = new AtomicLong(System.nanoTime());
        AtomicBoolean stalled = new AtomicBoolean();
        // One client per download, so that a stalled body can be aborted by shutting it down:
        // HttpClient has no timeout on reading the body.
        HttpClient client = HttpClient.newBuilder().connectTimeout(CONNECT_TIMEOUT).followRedirects(HttpClient.Redirect.NORMAL).build();
        try (Watchdog ignored = new Watchdog(client, lastProgress, stalled, readTimeout)) {
            HttpRequest request = HttpRequest.newBuilder(URI.create(w.url())).timeout(readTimeout)
                    .header("User-Agent", "graft").GET().build();
            HttpResponse<InputStream> response = client.send(request, HttpResponse.BodyHandlers.ofInputStream());
            lastProgress.set(System.nanoTime());
            try (InputStream body = response.body()) {
                if (response.statusCode() != 200)
                    throw new DownloadException("cannot download " + w.id() + " from " + w.url() + ": HTTP " + response.statusCode() + hint);
                long length = response.headers().firstValueAsLong("Content-Length").orElse(w.size());
                part = Files.createTempFile(target.getParent(), target.getFileName() + ".", ".part");
                MessageDigest sha = MessageDigest.getInstance("SHA-256");
                long received = 0;
                try (OutputStream out = Files.newOutputStream(part); ProgressBar bar = progressBar(w, length)) {
                    byte[] buf = new byte[1 << 16];
                    for (int n; (n = body.read(buf)) >= 0; ) {
                        lastProgress.set(System.nanoTime());
                        out.write(buf, 0, n);
                        sha.update(buf, 0, n);
                        received += n;
                        if (bar != null) bar.stepTo(received);
                    }
                } catch (IOException e) {
                    if (stalled.get())
                        throw new DownloadException("download of " + w.id() + " from " + w.url() + " stalled: no data for "
                                + readTimeout.toSeconds() + " s after " + received + " bytes" + hint, e);
                    throw e;
                }
                if (length >= 0 && received != length)
                    throw new DownloadException("download of " + w.id() + " from " + w.url() + " stopped after " + received + " of " + length
                            + " bytes" + hint);
                String got = HexFormat.of().formatHex(sha.digest());
                if (!got.startsWith(w.sha256()))
                    throw new DownloadException("the file downloaded from " + w.url() + " has SHA-256 " + got + ", expected "
                            + (w.fullHash() ? w.sha256() : "one starting with " + w.sha256()) + " (corrupted or changed upstream); it was deleted"
                            + hint);
                if (w.size() >= 0 && received != w.size())
                    throw new DownloadException("the file downloaded from " + w.url() + " has " + received + " bytes, expected " + w.size()
                            + "; it was deleted" + hint);
                try {
                    Files.move(part, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(part, target, StandardCopyOption.REPLACE_EXISTING);
                }
                part = null;
                return target;
            }
        } catch (DownloadException e) {
            throw e;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new DownloadException("download of " + w.id() + " from " + w.url() + " was interrupted" + hint, e);
        } catch (IOException | RuntimeException e) {
            throw new DownloadException("cannot download " + w.id() + " from " + w.url() + ": " + reason(e) + hint, e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no SHA-256", e);
        } finally {
            client.shutdownNow();
            if (part != null) {
                try {
                    Files.deleteIfExists(part);
                } catch (IOException ignored) {
                    // best effort: a stray .part file is ignored by the cache
                }
            }
        }
    }

    /** A short reason for a network failure (the JDK's messages are often empty or buried in causes). */
    private static String reason(Throwable e) {
        java.util.List<Throwable> chain = new java.util.ArrayList<>();
        for (Throwable t = e; t != null && chain.size() < 20; t = t.getCause()) chain.add(t);
        if (chain.stream().anyMatch(t -> t instanceof UnresolvedAddressException || t instanceof java.net.UnknownHostException))
            return "unknown host (offline?)";
        if (chain.stream().anyMatch(t -> t instanceof HttpConnectTimeoutException)) return "connection timed out (offline?)";
        if (chain.stream().anyMatch(t -> t instanceof ConnectException)) return "connection refused or no network (offline?)";
        if (chain.stream().anyMatch(t -> t instanceof HttpTimeoutException)) return "no response in time";
        for (Throwable t = e; t != null; t = t.getCause()) {
            String m = t.getMessage();
            if (m != null && !m.isBlank()) return m.replaceAll("\\s*[\\r\\n]+\\s*", " ").strip();
        }
        return e.getClass().getSimpleName();
    }

    /** Shuts the client down when no byte has arrived for {@code timeout}, failing the blocked read. */
    private static final class Watchdog implements AutoCloseable {
        private final Thread thread;

        Watchdog(HttpClient client, AtomicLong lastProgress, AtomicBoolean stalled, Duration timeout) {
            long limit = timeout.toNanos();
            long tick = Math.max(10, Math.min(1000, timeout.toMillis() / 4));
            thread = Thread.ofPlatform().daemon().name("graft-download-watchdog").start(() -> {
                try {
                    while (true) {
                        Thread.sleep(tick);
                        if (System.nanoTime() - lastProgress.get() > limit) {
                            stalled.set(true);
                            client.shutdownNow();
                            return;
                        }
                    }
                } catch (InterruptedException e) {
                    // the download finished
                }
            });
        }

        @Override
        public void close() {
            thread.interrupt();
        }
    }

    private ProgressBar progressBar(KnownWeights w, long length) {
        boolean show = switch (progress) {
            case ALWAYS -> true;
            case NEVER -> false;
            case AUTO -> System.console() != null && System.console().isTerminal();
        };
        if (!show) return null;
        // The default consumer draws on System.err.
        return new ProgressBarBuilder().setTaskName(w.fileName()).setInitialMax(length >= 0 ? length : -1).setUnit(" MiB", 1 << 20)
                .setStyle(ProgressBarStyle.ASCII).showSpeed().build();
    }
}
