/**
 * TensorFlow Lite import: {@link dev.graft.zoo.tflite.TfliteModel} reads a {@code .tflite} flatbuffer
 * with a bounds-checked reader and converts its first subgraph to a float32 NCHW
 * {@link dev.graft.graph.GraphModule} (dequantized weights, NHWC → NCHW layouts, TF's SAME padding,
 * activations folded into quantization ranges made explicit), with the preprocessing its input
 * quantization implies and a {@link dev.graft.graph.GraphClassifier} split for transfer learning.
 */
package dev.graft.zoo.tflite;
