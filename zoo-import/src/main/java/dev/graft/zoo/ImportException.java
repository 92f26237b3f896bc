package dev.graft.zoo;

import dev.graft.GraftException;
import java.nio.file.Path;

/**
 * A weight or model file that cannot be imported: unreadable, truncated, hostile, of an unknown
 * format, or not matching the model it is loaded into. The message is one line that starts with the
 * file's name and says what is wrong (naming the tensor, offset or shape).
 */
public class ImportException extends GraftException {
    public ImportException(Path file, String message) {
        super(file.getFileName() + ": " + message);
    }

    public ImportException(Path file, String message, Throwable cause) {
        super(file.getFileName() + ": " + message, cause);
    }
}
