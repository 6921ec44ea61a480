/**
 * English: every text feedgate writes for people to read in feeds. Plain text with {named} parameters;
 * the code escapes and wraps it. Keys are grouped by where the text appears.
 */
export const en = {
  // WeChat Channels
  'channels.feed.title': '{name} (WeChat Channels)',
  'channels.feed.description': 'Posts of {name} on WeChat Channels',
  'channels.item.video': 'Video of {date}',
  'channels.item.pictures': 'Pictures of {date}',
  'channels.item.live': 'Live of {date}',
  'channels.item.undated': 'undated',
  'channels.item.livePrefix': '[Live] ',
  'channels.item.liveBody': 'Live stream: open it in WeChat to watch.',

  // Douyin
  'douyin.feed.title': '{name} (Douyin)',
  'douyin.feed.description': 'Posts of {name} on Douyin',
  'douyin.item.dated': 'Post of {date}',
  'douyin.item.untitled': 'Untitled post',
  'douyin.item.pinned': 'pinned',

  // HDHive
  'hdhive.feed.title': 'HDHive: {name}',
  'hdhive.feed.description': 'Resources HDHive lists for {name} (TMDB {type} {id})',
  'hdhive.shares.title': 'HDHive: my shares',
  'hdhive.shares.description': 'Resources you shared on HDHive',
  'hdhive.item.points': '{count} points',
  'hdhive.item.free': 'free',
  'hdhive.item.invalid': '[invalid] ',
  'hdhive.item.yes': 'yes',
  'hdhive.item.no': 'no',
  'hdhive.item.users': '{count} users',
  'hdhive.item.checked': 'checked {date}',
  'hdhive.label.title': 'Title',
  'hdhive.label.drive': 'Drive',
  'hdhive.label.size': 'Size',
  'hdhive.label.resolution': 'Resolution',
  'hdhive.label.source': 'Source',
  'hdhive.label.subtitles': 'Subtitles',
  'hdhive.label.unlock': 'Unlock',
  'hdhive.label.unlockedByYou': 'Unlocked by you',
  'hdhive.label.unlockedBy': 'Unlocked by',
  'hdhive.label.official': 'Official',
  'hdhive.label.validation': 'Validation',
  'hdhive.label.sharedBy': 'Shared by',
  'hdhive.label.sharedAt': 'Shared at',
  'hdhive.link.open': 'Open on HDHive',
  'hdhive.link.all': 'All resources for this title',

  // WeChat Moments
  'moments.feed.one': '{name} (WeChat Moments)',
  'moments.feed.some': 'WeChat Moments of {count} people',
  'moments.feed.all': 'WeChat Moments',
  'moments.feed.descriptionOne': 'Moments posts of {name}, through feedgate',
  'moments.feed.descriptionAll': 'Moments posts, through feedgate',
  'moments.feed.descriptionOneKeyword': 'Moments posts of {name} matching "{keyword}", through feedgate',
  'moments.feed.descriptionAllKeyword': 'Moments posts matching "{keyword}", through feedgate',
  'moments.item.video': '[video]',
  'moments.item.photo': '[1 photo]',
  'moments.item.photos': '[{count} photos]',
  'moments.item.post': '[post]',
  'moments.item.channels': '[Channels video] {text}',
  'moments.item.partial': 'The photos and videos of this post could not be fetched yet; they appear after a later refresh.',
  'moments.item.livePhoto': 'Live photo',
  'moments.item.channelsBy': 'Channels video by {name}',
  'moments.item.openInWeChat': 'Open it in WeChat to watch.',
  'moments.item.play': '▶ Play',
  'moments.item.videoLink': '▶ Video',
  'moments.page.untitled': "{name}'s post",

  // WeChat Official Accounts
  'mp.feed.description': 'Articles of the WeChat Official Account {name}',
  'mp.item.untitled': 'Untitled article',
  'mp.item.noFullText': 'Full text unavailable ({problem}); this is the digest.',
  'mp.item.pending': 'The full text is being fetched; it appears at the next refresh.',
  'mp.item.original': 'Read the original source',
  'mp.notice.expiredTitle': 'feedgate: the credentials for {name} expired',
  'mp.notice.expiredText': 'Credentials expired since {since}; open any article of this account in WeChat to refresh them. Until then this feed shows the articles feedgate already has.',
  'mp.notice.limitedTitle': 'feedgate: WeChat is limiting requests for {name}',
  'mp.notice.limitedText':
    'WeChat answered ret=-6 (too many requests) at {since}; feedgate leaves this account alone until {until} and shows the articles it already has. Poll less often or lower MP_CALLS_PER_MINUTE.',
  'mp.page.untitled': 'WeChat article',
} as const;

export type MessageKey = keyof typeof en;
