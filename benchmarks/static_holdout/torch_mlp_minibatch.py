import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

data = np.load("data/spambase.npz")
X_train = torch.from_numpy(data["X_train"]).float()
y_train = torch.from_numpy(data["y_train"]).long()
X_test = torch.from_numpy(data["X_test"]).float()
y_test = torch.from_numpy(data["y_test"]).long()


class Net(nn.Module):
    def __init__(self, n_in):
        super().__init__()
        self.fc1 = nn.Linear(n_in, 64)
        self.fc2 = nn.Linear(64, 2)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


net = Net(X_train.shape[1])
optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
batch_size = 64

for epoch in range(30):
    for i in range(0, len(X_train), batch_size):
        xb, yb = X_train[i : i + batch_size], y_train[i : i + batch_size]
        optimizer.zero_grad()
        loss = F.cross_entropy(net(xb), yb)
        loss.backward()
        optimizer.step()  # expect: MLC103
    print(epoch, loss.item())

with torch.no_grad():
    acc = (net(X_test).argmax(dim=1) == y_test).float().mean()
print("test accuracy", acc.item())
