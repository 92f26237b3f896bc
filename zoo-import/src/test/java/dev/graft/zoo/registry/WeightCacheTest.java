package dev.graft.zoo.registry;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpServer;
import dev.graft.GraftException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Downloads from a loopback HTTP server on 127.0.0.1 (never the internet). */
class WeightCacheTest {
    @TempDir
    Path cacheDir;

    private HttpServer server;
    private final AtomicInteger requests = new AtomicInteger();
    private static final byte[] PAYLOAD = new byte[300_000];

    static {
        new Random(3).nextBytes(PAYLOAD);
    }

    @BeforeEach
    void start() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/files/", ex -> {
            requests.incrementAndGet();
            String path = ex.getRequestURI().getPath();
            try (ex) {
                switch (path) {
                    case "/files/weights-abc.pth", "/files/tampered.pth" -> {
                        ex.sendResponseHeaders(200, PAYLOAD.length);
                        try (OutputStream out = ex.getResponseBody()) {
                            out.write(PAYLOAD);
                        }
                    }
                    case "/files/chunked.pth" -> {
                        ex.sendResponseHeaders(200, 0); // no Content-Length
                        try (OutputStream out = ex.getResponseBody()) {
                            out.write(PAYLOAD);
                        }
                    }
                    case "/files/stall.pth" -> {
                        ex.sendResponseHeaders(200, PAYLOAD.length);
                        OutputStream out = ex.getResponseBody();
                        out.write(PAYLOAD, 0, 1000);
                        out.flush();
                        // Stop sending but keep the connection open, as a hung server would.
                        try {
                            out.close();
                        } catch (IOException expected) {
                            // "insufficient bytes written to stream"
                        }
                    }
                    default -> ex.sendResponseHeaders(404, -1);
                }
            }
        });
        server.start();
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    private String url(String file) {
        return "http://127.0.0.1:" + server.getAddress().getPort() + "/files/" + file;
    }

    private static String sha256(byte[] b) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    }

    private static KnownWeights entry(String name, String url, String sha, long size) {
        return new KnownWeights("test:" + name, url, sha, size, "resnet18", KnownWeights.Format.PYTORCH, 1000, "test file");
    }

    private WeightCache cache() {
        return new WeightCache(cacheDir, WeightCache.Progress.NEVER, Duration.ofSeconds(10));
    }

    private List<Path> filesInCache() throws IOException {
        try (Stream<Path> s = Files.walk(cacheDir)) {
            return s.filter(Files::isRegularFile).toList();
        }
    }

    @Test
    void downloadsVerifiesAndThenServesFromTheCache() throws Exception {
        KnownWeights w = entry("full", url("weights-abc.pth"), sha256(PAYLOAD), PAYLOAD.length);
        WeightCache cache = cache();
        Path p = cache.fetch(w);
        assertThat(p).isEqualTo(cacheDir.resolve("test").resolve("weights-abc.pth"));
        assertThat(Files.readAllBytes(p)).isEqualTo(PAYLOAD);
        assertThat(requests.get()).isEqualTo(1);
        assertThat(cache.fetch(w)).isEqualTo(p);
        assertThat(requests.get()).as("a cached file is not fetched again").isEqualTo(1);
        assertThat(filesInCache()).containsExactly(p);
    }

    @Test
    void aHashPrefixIsEnoughAndContentLengthIsOptional() throws Exception {
        KnownWeights w = entry("prefix", url("chunked.pth"), sha256(PAYLOAD).substring(0, 8), -1);
        assertThat(w.fullHash()).isFalse();
        Path p = cache().fetch(w);
        assertThat(Files.readAllBytes(p)).isEqualTo(PAYLOAD);
    }

    @Test
    void wrongHashIsAnErrorAndLeavesNothing() throws Exception {
        String wrong = "0".repeat(64);
        KnownWeights w = entry("tampered", url("tampered.pth"), wrong, PAYLOAD.length);
        assertThatThrownBy(() -> cache().fetch(w)).isInstanceOf(DownloadException.class)
                .hasMessageContaining(url("tampered.pth")).hasMessageContaining("SHA-256").hasMessageContaining(sha256(PAYLOAD))
                .hasMessageContaining("--weights FILE").hasMessageNotContaining("\n");
        assertThat(filesInCache()).isEmpty();
    }

    @Test
    void httpErrorsNameTheUrl() throws IOException {
        KnownWeights w = entry("missing", url("missing.pth"), "a".repeat(64), -1);
        assertThatThrownBy(() -> cache().fetch(w)).isInstanceOf(DownloadException.class)
                .hasMessageContaining(url("missing.pth")).hasMessageContaining("HTTP 404").hasMessageContaining("--weights FILE");
        assertThat(filesInCache()).isEmpty();
    }

    @Test
    void connectionRefusedSaysHowToPassAFile() throws IOException {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        String u = "http://127.0.0.1:" + port + "/resnet18-f37072fd.pth";
        KnownWeights w = entry("offline", u, "f37072fd", -1);
        assertThatThrownBy(() -> cache().fetch(w)).isInstanceOf(DownloadException.class)
                .hasMessageContaining(u).hasMessageContaining("connection refused").hasMessageContaining("--weights FILE")
                .hasMessageNotContaining("\n");
        assertThat(filesInCache()).isEmpty();
    }

    @Test
    void theProgressBarCanBeForced() throws Exception {
        KnownWeights w = entry("bar", url("weights-abc.pth"), sha256(PAYLOAD), PAYLOAD.length);
        Path p = new WeightCache(cacheDir, WeightCache.Progress.ALWAYS, Duration.ofSeconds(10)).fetch(w);
        assertThat(Files.readAllBytes(p)).isEqualTo(PAYLOAD);
    }

    @Test
    void aConnectionDroppedMidBodyIsAnErrorAndLeavesNothing() throws Exception {
        // A bare server that promises the whole payload, sends 1000 bytes and closes the connection.
        try (ServerSocket raw = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Thread t = Thread.ofPlatform().daemon().start(() -> {
                try (var s = raw.accept()) {
                    s.getInputStream().read(new byte[4096]);
                    OutputStream out = s.getOutputStream();
                    out.write(("HTTP/1.1 200 OK\r\nContent-Length: " + PAYLOAD.length + "\r\n\r\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                    out.write(PAYLOAD, 0, 1000);
                    out.flush();
                } catch (IOException ignored) {
                    // the test's assertion reports what the client saw
                }
            });
            String u = "http://127.0.0.1:" + raw.getLocalPort() + "/cut.pth";
            KnownWeights w = entry("cut", u, sha256(PAYLOAD), PAYLOAD.length);
            assertThatThrownBy(() -> cache().fetch(w)).isInstanceOf(DownloadException.class)
                    .hasMessageContaining(u).hasMessageContaining("--weights FILE").hasMessageNotContaining("\n");
            t.join(5000);
        }
        assertThat(filesInCache()).isEmpty();
    }

    @Test
    void aStalledBodyTimesOut() throws Exception {
        KnownWeights w = entry("stall", url("stall.pth"), sha256(PAYLOAD), PAYLOAD.length);
        WeightCache quick = new WeightCache(cacheDir, WeightCache.Progress.NEVER, Duration.ofMillis(800));
        long t0 = System.nanoTime();
        assertThatThrownBy(() -> quick.fetch(w)).isInstanceOf(DownloadException.class)
                .hasMessageContaining(url("stall.pth")).hasMessageContaining("stalled").hasMessageContaining("after 1000 bytes")
                .hasMessageContaining("--weights FILE");
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(10));
        assertThat(filesInCache()).isEmpty();
    }

    @Test
    void aCachedFileOfTheWrongSizeIsFetchedAgain() throws Exception {
        KnownWeights w = entry("resize", url("weights-abc.pth"), sha256(PAYLOAD), PAYLOAD.length);
        Path target = cache().cachedPath(w);
        Files.createDirectories(target.getParent());
        Files.write(target, new byte[] {1, 2, 3});
        assertThat(Files.readAllBytes(cache().fetch(w))).isEqualTo(PAYLOAD);
        assertThat(requests.get()).isEqualTo(1);
    }

    @Test
    void resolveTakesPathsAndIds() throws IOException {
        Path local = Files.write(cacheDir.resolve("mine.pth"), new byte[] {7});
        WeightCache cache = cache();
        assertThat(cache.resolve(local.toString())).isEqualTo(local);
        assertThatThrownBy(() -> cache.resolve("torchvision:resnet9000")).isInstanceOf(GraftException.class)
                .hasMessageContaining("unknown weights 'torchvision:resnet9000'").hasMessageContaining("torchvision:resnet18");
        assertThatThrownBy(() -> cache.resolve(cacheDir.resolve("nope.pth").toString())).isInstanceOf(GraftException.class)
                .hasMessageContaining("nope.pth").hasMessageContaining("no such file");
        assertThatThrownBy(() -> cache.resolve(cacheDir.toString())).isInstanceOf(GraftException.class).hasMessageContaining("folder");
        // A known id already in the cache resolves without any network.
        KnownWeights r18 = KnownWeights.get("torchvision:resnet18");
        assertThat(cache.cachedPath(r18)).isEqualTo(cacheDir.resolve("torchvision").resolve("resnet18-f37072fd.pth"));
    }

    @Test
    void cacheFolderFollowsTheSystemProperty() {
        String old = System.getProperty("graft.cache");
        try {
            System.setProperty("graft.cache", cacheDir.toString());
            assertThat(WeightCache.defaultDir()).isEqualTo(cacheDir);
            assertThat(WeightCache.defaults().dir()).isEqualTo(cacheDir.toAbsolutePath().normalize());
            System.clearProperty("graft.cache");
            if (System.getenv("GRAFT_CACHE") == null)
                assertThat(WeightCache.defaultDir()).isEqualTo(Path.of(System.getProperty("user.home"), ".cache", "graft"));
        } finally {
            if (old == null) System.clearProperty("graft.cache");
            else System.setProperty("graft.cache", old);
        }
    }
}
