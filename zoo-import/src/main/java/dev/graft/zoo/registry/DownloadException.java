package dev.graft.zoo.registry;

import dev.graft.GraftException;

/**
 * Weights that could not be fetched: no connection, an HTTP error, a body cut short, or a file whose
 * SHA-256 is not the recorded one. The message is one line that names the URL and says how to
 * supply the file by hand ({@code --weights FILE}).
 */
public class DownloadException extends GraftException {
    public DownloadException(String message) {
        super(message);
    }

    public DownloadException(String message, Throwable cause) {
        super(message, cause);
    }
}
