/**
 * Importers of pretrained ImageNet weights into {@code dev.graft.nn} models: safetensors and PyTorch
 * {@code .pth} (torchvision/timm), TFLite and ONNX, with the name maps from each format's keys to
 * Graft's state-dict keys and a registry of known weights. Empty for now: the importers are the
 * next issue.
 */
package dev.graft.zoo;
