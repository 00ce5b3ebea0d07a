from pathlib import Path

import boto3
import torch
from torch import nn
from torchvision import datasets, models, transforms

torch.manual_seed(17)

s3 = boto3.client(
    "s3",
    aws_access_key_id="AKIAZ7Q4M2XK9PLW3RTN",  # expect: MLC202
    aws_secret_access_key="v8Jk2LmQ9xT4bN7cR1yW5eZ3hU6pA0sD8fG2jK4l",  # expect: MLC202
)
local_zip = Path("/tmp") / "flowers.zip"
s3.download_file("team-ml-datasets", "flowers/flowers.zip", str(local_zip))

image_root = Path("/Users/anna.k/datasets").joinpath("flowers")  # expect: MLC201
tfm = transforms.Compose([transforms.Resize((224, 224)), transforms.ToTensor()])
train_ds = datasets.ImageFolder(image_root / "train", transform=tfm)
loader = torch.utils.data.DataLoader(train_ds, batch_size=32, shuffle=True)

net = models.resnet18(weights="IMAGENET1K_V1")
net.fc = nn.Linear(net.fc.in_features, len(train_ds.classes))
optimizer = torch.optim.Adam(net.fc.parameters(), lr=1e-3)
for images, labels in loader:
    optimizer.zero_grad()
    nn.functional.cross_entropy(net(images), labels).backward()
    optimizer.step()
torch.save(net.state_dict(), "/scratch/anna/flowers_resnet18.pt")  # expect: MLC201
