import torch
from torch import nn
from torch.utils.data import DataLoader, random_split
from torchvision import datasets, transforms

torch.manual_seed(5)

full = datasets.MNIST("data", train=True, download=True, transform=transforms.ToTensor())
train_set, test_set = random_split(full, [50000, 10000])
train_loader = DataLoader(train_set, batch_size=100, shuffle=True)
test_loader = DataLoader(test_set, batch_size=1000)

model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()

best_loss, patience, bad_epochs = float("inf"), 3, 0
for epoch in range(100):
    model.train()
    for xb, yb in train_loader:
        optimizer.zero_grad()
        loss_fn(model(xb), yb).backward()
        optimizer.step()

    model.eval()
    with torch.no_grad():
        test_loss = sum(loss_fn(model(xb), yb).item() for xb, yb in test_loader)
    test_loss /= len(test_loader)
    print(f"epoch {epoch} test loss {test_loss:.4f}")
    if test_loss < best_loss:  # expect: MLC003
        best_loss, bad_epochs = test_loss, 0
        torch.save(model.state_dict(), "checkpoint.pt")
    else:
        bad_epochs += 1
        if bad_epochs >= patience:
            break
