import copy

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

torch.manual_seed(42)

tfm = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.2860,), (0.3530,))])
train_set = datasets.FashionMNIST("data", train=True, download=True, transform=tfm)
test_set = datasets.FashionMNIST("data", train=False, download=True, transform=tfm)
train_loader = DataLoader(train_set, batch_size=128, shuffle=True)
test_loader = DataLoader(test_set, batch_size=512)

model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
criterion = nn.CrossEntropyLoss()


def evaluate(net, loader):
    net.eval()
    total, correct = 0, 0
    with torch.no_grad():
        for xb, yb in loader:
            correct += (net(xb).argmax(1) == yb).sum().item()
            total += len(yb)
    return correct / total


best_acc, best_state = 0.0, None
for epoch in range(20):
    model.train()
    for xb, yb in train_loader:
        optimizer.zero_grad()
        criterion(model(xb), yb).backward()
        optimizer.step()
    test_acc = evaluate(model, test_loader)
    print(f"epoch {epoch}: test acc {test_acc:.4f}")
    if test_acc > best_acc:  # expect: MLC003
        best_acc, best_state = test_acc, copy.deepcopy(model.state_dict())

model.load_state_dict(best_state)
print("final test accuracy:", evaluate(model, test_loader))
