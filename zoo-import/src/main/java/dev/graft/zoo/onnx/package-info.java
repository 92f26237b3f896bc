/**
 * ONNX import: {@link dev.graft.zoo.onnx.OnnxModel#read} opens a {@code .onnx} file (protobuf, parsed
 * with classes generated at build time from {@code src/main/proto/onnx_subset.proto}, a trimmed copy of
 * ONNX's schema with its original field numbers) and converts its graph into a
 * {@link dev.graft.graph.GraphModule}; {@link dev.graft.zoo.onnx.OnnxModel#classifier()} splits it at the
 * global pooling for transfer learning. See {@code docs/ONNX.md} for the supported operators and limits.
 */
package dev.graft.zoo.onnx;
