import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

features = torch.load("data/tabular_features.pt")
targets = torch.load("data/tabular_targets.pt")
n_train = int(0.8 * len(features))
train_ds = TensorDataset(features[:n_train], targets[:n_train])
test_ds = TensorDataset(features[n_train:], targets[n_train:])

train_dl = DataLoader(train_ds, batch_size=32, shuffle=True)
test_dl = DataLoader(test_ds, batch_size=256)

torch.manual_seed(2023)  # before the model is built and before the loader is iterated

model = nn.Sequential(
    nn.Linear(features.shape[1], 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 1)
)
opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
loss_fn = nn.BCEWithLogitsLoss()

for epoch in range(25):
    model.train()
    for xb, yb in train_dl:
        opt.zero_grad()
        loss = loss_fn(model(xb).squeeze(1), yb.float())
        loss.backward()
        opt.step()
    print(epoch, round(loss.item(), 4))

model.eval()
with torch.no_grad():
    hits = sum(((model(xb).squeeze(1) > 0).long() == yb).sum().item() for xb, yb in test_dl)
print("test accuracy:", hits / len(test_ds))
