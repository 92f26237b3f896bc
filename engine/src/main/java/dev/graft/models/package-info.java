/**
 * torchvision-compatible image classification architectures for transfer learning: {@link
 * dev.graft.models.ResNet} (resnet18/34/50/101) and {@link dev.graft.models.MobileNetV2}, built by name
 * through {@link dev.graft.models.Models#create}. Every model is an {@link
 * dev.graft.models.ImageClassifier}: a backbone producing pooled features plus a replaceable
 * {@code Linear} classifier, with the {@link dev.graft.models.Preprocessing} its inputs need. State-dict
 * keys equal torchvision 0.14's (minus {@code num_batches_tracked}), so its weights load unchanged.
 */
package dev.graft.models;
