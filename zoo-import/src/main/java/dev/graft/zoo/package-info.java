/**
 * Importers of pretrained ImageNet weights into {@code dev.graft.nn} models.
 *
 * <ul>
 *   <li>{@link dev.graft.zoo.SafetensorsFile} / {@link dev.graft.zoo.Safetensors}: safetensors read
 *       (checked header, memory-mapped data) and write (F32, atomic).</li>
 *   <li>{@link dev.graft.zoo.PthFile}: PyTorch {@code torch.save} zip checkpoints, read with a
 *       restricted allowlist unpickler that never executes anything.</li>
 *   <li>{@link dev.graft.zoo.TimmNames}: timm key names to torchvision key names.</li>
 *   <li>{@link dev.graft.zoo.Pretrained}: open a weight file by content and load it into a model.</li>
 *   <li>{@link dev.graft.io.AtomicFiles} (engine): temp-file, fsync and rename writes.</li>
 * </ul>
 *
 * Every failure on a bad file is an {@link dev.graft.zoo.ImportException} whose one-line message starts
 * with the file name. TFLite and ONNX importers implement the same {@link dev.graft.zoo.ModelFile}.
 */
package dev.graft.zoo;
