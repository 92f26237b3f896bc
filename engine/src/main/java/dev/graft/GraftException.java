package dev.graft;

/**
 * An error caused by the user's input (a file, a shape, an argument), as opposed to a bug in Graft.
 * Its message is one line that names the file, tensor or shape at fault; the command line prints
 * just that line and exits non-zero.
 */
public class GraftException extends RuntimeException {
    public GraftException(String message) {
        super(message);
    }

    public GraftException(String message, Throwable cause) {
        super(message, cause);
    }
}
