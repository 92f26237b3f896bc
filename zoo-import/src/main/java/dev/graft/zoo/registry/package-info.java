/**
 * Pretrained weights known by name ({@link dev.graft.zoo.registry.KnownWeights}, e.g.
 * {@code torchvision:resnet18}) and the local cache that downloads and verifies them
 * ({@link dev.graft.zoo.registry.WeightCache}).
 */
package dev.graft.zoo.registry;
